"""The engine's start-up as spans: ``vllm.engine.start`` around creating an ``LLM`` or an
``AsyncLLM``, with ``vllm.engine.config`` (resolving the engine configuration),
``vllm.engine.model_load`` (the executor: workers and model weights) and
``vllm.engine.kv_cache`` (profiling memory, allocating the KV cache, warm-up) under it where the
engine core runs in the same process (``LLM`` with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``; an
engine core in its own process makes these spans there, as a trace of their own, when that
process is instrumented too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axonize_core.instrumentation import Span, is_tracing, semconv
from axonize_vllm._offline import PROVIDER

_PROVIDER_ATTRS = {semconv.AI_MODEL_PROVIDER: PROVIDER}


def _phase(name: str) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
        if not is_tracing():
            return wrapped(*args, **kwargs)
        with Span(name, _PROVIDER_ATTRS):
            return wrapped(*args, **kwargs)

    return traced


traced_engine_start = _phase("vllm.engine.start")
traced_engine_config = _phase("vllm.engine.config")
traced_model_load = _phase("vllm.engine.model_load")
traced_kv_cache = _phase("vllm.engine.kv_cache")
