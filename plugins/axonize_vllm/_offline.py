"""The offline ``LLM``: a span per call, a span per request with the engine's timings.

``LLM`` creates its engine with per-request stats off unless told otherwise.  When the user did
not choose (no ``disable_log_stats`` argument), :func:`traced_llm_init` marks the construction and
:func:`traced_engine_init` creates the engine with stats on, then drops vLLM's stat loggers (which
would otherwise print a throughput line every few seconds), so that nothing the user sees
changes; the outputs' ``metrics`` go back to ``None`` once the plugin has read them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from axonize_core.instrumentation import (
    Span,
    SpanKind,
    emit_span,
    is_tracing,
    log_internal_error,
    now_ns,
    semconv,
)
from axonize_vllm._engine import HIDDEN_STATS, engine_info
from axonize_vllm._scope import SCOPE
from axonize_vllm._stats import (
    Timeline,
    mono_to_wall_ns,
    request_figures,
    sampling_attributes,
)

_FORCE_STATS: ContextVar[bool] = ContextVar("axonize_vllm_force_stats", default=False)
_IN_CALL: ContextVar[bool] = ContextVar("axonize_vllm_in_call", default=False)
_SERVER = int(SpanKind.SERVER)
PROVIDER = "vllm"


# -- stats collection ------------------------------------------------------------------------
def traced_llm_init(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
    """Creating an ``LLM``: the ``vllm.engine.start`` span; stats on unless the user chose."""
    token = None if "disable_log_stats" in kwargs else _FORCE_STATS.set(True)
    try:
        if is_tracing():
            with Span("vllm.engine.start", {semconv.AI_MODEL_PROVIDER: PROVIDER}):
                return wrapped(*args, **kwargs)
        return wrapped(*args, **kwargs)
    finally:
        if token is not None:
            _FORCE_STATS.reset(token)


def traced_engine_init(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    if not _FORCE_STATS.get() or kwargs.get("log_stats", True) or len(args) > 2:
        return wrapped(*args, **kwargs)
    kwargs["log_stats"] = True
    result = wrapped(*args, **kwargs)
    try:
        # vLLM's stat loggers (periodic log lines, Prometheus) stay as off as the user left them.
        instance.logger_manager = None
        setattr(instance, HIDDEN_STATS, True)
    except Exception:
        log_internal_error("vllm-stats", "axonize: could not hide vLLM's stat loggers")
    return result


def traced_do_tracing(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
    """vLLM's own ``llm_request`` span (its OTLP tracing, ``--otlp-traces-endpoint``): while
    Axonize traces, its request span stands in for it (one span per request, not two)."""
    if is_tracing():
        return None
    return wrapped(*args, **kwargs)


# -- calls -----------------------------------------------------------------------------------
def traced_generate(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
    return _traced(wrapped, instance, args, kwargs, "generate",
                   semconv.OPERATION_TEXT_COMPLETION, "sampling_params")


def traced_chat(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    return _traced(wrapped, instance, args, kwargs, "chat", semconv.OPERATION_CHAT,
                   "sampling_params")


def traced_beam_search(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    return _traced(wrapped, instance, args, kwargs, "beam_search",
                   semconv.OPERATION_TEXT_COMPLETION, "params")


def traced_embed(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    return _traced(wrapped, instance, args, kwargs, "embed", semconv.OPERATION_EMBEDDINGS,
                   "pooling_params")


def traced_encode(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    return _traced(wrapped, instance, args, kwargs, "encode", semconv.OPERATION_EMBEDDINGS,
                   "pooling_params")


def _traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
            kwargs: dict[str, Any], method: str, op: str, params_name: str) -> Any:
    # One span for the user's call (embed calls encode; chat may call generate's helpers).
    if not is_tracing() or _IN_CALL.get():
        return wrapped(*args, **kwargs)
    try:
        call = _Call(instance, method, op, args[1] if len(args) > 1 else kwargs.get(params_name))
    except Exception:
        log_internal_error("vllm-call", "axonize: could not read an LLM call")
        return wrapped(*args, **kwargs)
    token = _IN_CALL.set(True)
    try:
        with call.span:
            outputs = wrapped(*args, **kwargs)
            call.finish(outputs)
            return outputs
    finally:
        _IN_CALL.reset(token)


class _Call:
    __slots__ = ("engine", "gpus", "model", "op", "params", "sampling", "span")

    def __init__(self, llm: Any, method: str, op: str, params: Any) -> None:
        engine = llm.llm_engine
        info = engine_info(engine, engine.vllm_config)
        self.engine = engine
        self.model = info.model
        self.gpus = info.gpus
        self.op = op
        self.params = params
        a: dict[str, Any] = {semconv.AI_OPERATION_NAME: op, semconv.AI_MODEL_PROVIDER: PROVIDER}
        if info.model:
            a[semconv.AI_MODEL_NAME] = info.model
        # One set of parameters for every prompt: read once, copied into each request span.
        self.sampling: dict[str, Any] | None = None
        if params is not None and not isinstance(params, (list, tuple)):
            self.sampling = sampling_attributes(params)
            a.update(self.sampling)
        span = Span(f"vllm.LLM.{method}", a)
        if info.gpus:
            span.set_gpus(info.gpus)
        self.span = span

    def finish(self, outputs: Any) -> None:
        """A request span (and its phases) per output; never raises."""
        try:
            if not isinstance(outputs, list):
                return
            span = self.span
            span.set_attribute(semconv.AI_LLM_BATCH_SIZE, len(outputs))
            hidden = bool(getattr(self.engine, HIDDEN_STATS, False))
            offset = mono_to_wall_ns()
            params = self.params
            per_request = isinstance(params, (list, tuple)) and len(params) == len(outputs)
            for i, out in enumerate(outputs):
                if not hasattr(out, "prompt_token_ids"):
                    continue  # beam search: its steps ran as engine requests of their own
                self._request(out, params[i] if per_request else None, offset)
                if hidden:
                    out.metrics = None  # as the user would have had it
        except Exception:
            log_internal_error("vllm-finish", "axonize: could not read vLLM's outputs")

    def _request(self, out: Any, params: Any, offset: int) -> None:
        """``params``: the request's own parameters when each prompt had its own."""
        rs = SCOPE.LlmSpan(None, self.model, operation=self.op, provider=PROVIDER, kind=_SERVER)
        sampling = self.sampling
        a = sampling.copy() if sampling is not None else sampling_attributes(params)
        stats = getattr(out, "metrics", None)
        timeline = None
        if stats is not None and hasattr(stats, "first_token_ts"):
            timeline = Timeline(stats, offset)
            timeline.attributes(a)
            if timeline.first:
                rs.set_first_token_time(timeline.first)
        else:
            stats = None
        request_figures(rs, out, stats, a)
        if self.op == semconv.OPERATION_EMBEDDINGS:
            _embedding(out, a)
        rs.attributes = a  # a fresh dict of plain values: no copy needed
        if self.gpus:
            rs.set_gpus(self.gpus)
        start, end = _bounds(timeline, self.span.start_ns)
        if emit_span(rs, start, end, parent=self.span) and timeline is not None:
            timeline.phases(rs)


def _bounds(timeline: Timeline | None, fallback_start: int) -> tuple[int, int]:
    """Arrival to last token on the engine's clocks; the call's own times where unknown."""
    end = now_ns()
    if timeline is None:
        return fallback_start, end
    start = timeline.arrival or timeline.queued or fallback_start
    return start, timeline.last or end


def _embedding(out: Any, a: dict[str, Any]) -> None:
    """Dimensions of an embedding: a list (``embed``) or a tensor (``encode``)."""
    output = getattr(out, "outputs", None)
    vector = getattr(output, "embedding", None)
    if isinstance(vector, list):
        a[semconv.AI_EMBEDDING_DIMENSIONS] = len(vector)
        return
    shape = getattr(getattr(output, "data", None), "shape", None)
    if shape:
        a[semconv.AI_EMBEDDING_DIMENSIONS] = int(shape[-1])

