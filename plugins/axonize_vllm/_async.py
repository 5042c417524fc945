"""``AsyncLLM.generate`` / ``encode`` (``vllm serve``, embedded async use): one span per request.

Both are async generators; the wrapper is one too, yielding exactly what vLLM yields.  The span
starts when the caller first pulls (the request is sent then), its time to first token is the
first output that carries tokens, as the caller saw it, and the engine's own timings (queue,
prefill, decode, its TTFT) come from the final output's ``metrics``.  Closing the stream early
or cancelling the task that reads it ends the span as ``closed`` / ``cancelled`` without an error
status (vLLM aborts the request then); an exception ends it as an error and reaches the caller
unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

from axonize_core.instrumentation import (
    Span,
    SpanKind,
    context,
    is_tracing,
    log_internal_error,
    now_ns,
    semconv,
)
from axonize_vllm._engine import engine_info
from axonize_vllm._offline import PROVIDER
from axonize_vllm._scope import SCOPE
from axonize_vllm._stats import (
    REQUEST_ID,
    Timeline,
    completions,
    mono_to_wall_ns,
    request_figures,
    sampling_attributes,
)

_SERVER = int(SpanKind.SERVER)
_DELTA = "DELTA"
ENDPOINT = semconv.AI_SERVER_ENDPOINT
# ``vllm serve`` names its engine requests after the OpenAI endpoint that made them.
_ENDPOINTS = (("chatcmpl-", "/v1/chat/completions", semconv.OPERATION_CHAT),
              ("cmpl-", "/v1/completions", None),
              ("embd-", "/v1/embeddings", None))


def traced_async_generate(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> Any:
    stream = wrapped(*args, **kwargs)
    if not is_tracing():
        return stream
    params = args[1] if len(args) > 1 else kwargs.get("sampling_params")
    return _metered(stream, instance, params, _request_id(args, kwargs),
                    semconv.OPERATION_TEXT_COMPLETION, kwargs.get("trace_headers"))


def traced_async_encode(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
    stream = wrapped(*args, **kwargs)
    if not is_tracing():
        return stream
    params = args[1] if len(args) > 1 else kwargs.get("pooling_params")
    return _metered(stream, instance, params, _request_id(args, kwargs),
                    semconv.OPERATION_EMBEDDINGS, kwargs.get("trace_headers"))


def _request_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[2] if len(args) > 2 else kwargs.get("request_id")


async def _metered(stream: Any, engine: Any, params: Any, request_id: Any, op: str,
                   headers: Any) -> AsyncGenerator[Any, None]:
    request = _Request.start(engine, params, request_id, op, headers)
    if request is None:
        async for out in stream:
            yield out
        return
    how, error = "complete", None
    try:
        while True:
            try:
                out = await stream.__anext__()
            except StopAsyncIteration:
                break
            request.item(out)
            yield out
    except GeneratorExit:  # the caller closed the stream (or dropped it): vLLM aborts
        how = "closed"
        await stream.aclose()
        raise
    except asyncio.CancelledError:  # the reading task was cancelled (a client disconnect)
        how = "cancelled"
        raise
    except BaseException as exc:
        how, error = "error", exc
        raise
    finally:
        request.end(how, error)


class _Request:
    __slots__ = ("delta", "last", "span", "tokens")

    def __init__(self, engine: Any, params: Any, request_id: Any, op: str) -> None:
        info = engine_info(engine, engine.vllm_config)
        a = sampling_attributes(params)
        if request_id is not None:
            rid = str(request_id)
            a[REQUEST_ID] = rid
            for prefix, endpoint, endpoint_op in _ENDPOINTS:
                if rid.startswith(prefix):
                    a[ENDPOINT] = endpoint
                    op = endpoint_op or op
                    break
        span = SCOPE.LlmSpan(None, info.model, operation=op, provider=PROVIDER, attributes=a,
                             kind=_SERVER)
        if info.gpus:
            span.set_gpus(info.gpus)
        kind = getattr(params, "output_kind", None)
        self.delta = getattr(kind, "name", "") == _DELTA
        self.tokens = 0
        self.last: Any = None
        self.span = span

    @classmethod
    def start(cls, engine: Any, params: Any, request_id: Any, op: str,
              headers: Any) -> _Request | None:
        try:
            request = cls(engine, params, request_id, op)
            remote = _remote_parent(headers) if headers else None
            if remote is not None and context().span is None:  # no span made around it
                token = remote.activate()  # the caller's span, from its ``traceparent``
                try:
                    request.span.start()
                finally:
                    Span.deactivate(token)
            else:
                request.span.start()
            return request
        except Exception:
            log_internal_error("vllm-async-start", "axonize: could not read an AsyncLLM request")
            return None

    def item(self, out: Any) -> None:
        try:
            self.last = out
            n = sum(len(c.token_ids) for c in completions(out))
            tokens = self.tokens + n if self.delta else n
            if tokens and not self.tokens:
                self.span.set_first_token_time(now_ns())
            self.tokens = tokens
        except Exception:
            log_internal_error("vllm-async-item", "axonize: could not read an AsyncLLM output")

    def end(self, how: str, exc: BaseException | None) -> None:
        span = self.span
        try:
            a: dict[str, Any] = {semconv.AI_LLM_STREAM: True, semconv.AI_LLM_STREAM_END: how}
            out = self.last
            timeline = None
            if out is not None:
                stats = getattr(out, "metrics", None)
                if stats is not None and hasattr(stats, "first_token_ts"):
                    timeline = Timeline(stats, mono_to_wall_ns())
                    timeline.attributes(a)
                else:
                    stats = None
                # DELTA outputs carry only their new tokens: count what streamed.
                request_figures(span, out, stats, a, self.tokens if self.delta else None)
            if how in ("closed", "cancelled"):
                a.setdefault(semconv.AI_LLM_FINISH_REASONS, ("abort",))
            span.set_attributes(a)
            if timeline is not None and span.sampled:
                timeline.phases(span)
        except Exception:
            log_internal_error("vllm-async-end", "axonize: could not read an AsyncLLM request")
        span.end(exc)


def _remote_parent(headers: Any) -> Span | None:
    """A stand-in for the caller's span named by a W3C ``traceparent`` header (vLLM passes the
    request's trace headers to the engine), or None."""
    value = headers.get("traceparent") if hasattr(headers, "get") else None
    if not isinstance(value, str):
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    parent = Span("remote")
    parent.trace_id = trace_id
    parent.span_id = span_id
    parent.sampled = bool(flags & 1)
    return parent
