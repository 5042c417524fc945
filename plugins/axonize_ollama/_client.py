"""The ``_request`` wrappers: read the call, meter the stream, read the server's timings.

Every public call of the client reaches ``_request(cls, method, path, json=..., stream=...)``
with the request body already built as a dict, so the model, options and inputs are read from
``json`` and the operation from the path.  A streamed call returns a lazy generator that sends
its request on the first ``next``: the span starts then, so neither its duration nor its time to
first token counts how long the caller held the stream before reading it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from axonize_core.instrumentation import (
    LlmSpan,
    SpanKind,
    capture_content,
    content_capture_enabled,
    is_tracing,
    log_internal_error,
    meter_async_stream,
    meter_stream,
    semconv,
)
from axonize_ollama._scope import SCOPE

_OPERATIONS = {
    "/api/chat": semconv.OPERATION_CHAT,
    "/api/generate": semconv.OPERATION_TEXT_COMPLETION,
    "/api/embed": semconv.OPERATION_EMBEDDINGS,
    "/api/embeddings": semconv.OPERATION_EMBEDDINGS,
}
_OPTIONS = (
    ("num_predict", semconv.AI_LLM_REQUEST_MAX_TOKENS),
    ("temperature", semconv.AI_LLM_REQUEST_TEMPERATURE),
    ("top_p", semconv.AI_LLM_REQUEST_TOP_P),
    ("top_k", semconv.AI_LLM_REQUEST_TOP_K),
    ("seed", semconv.AI_LLM_REQUEST_SEED),
    ("num_ctx", semconv.AI_LLM_REQUEST_CONTEXT_LENGTH),
)
_SERVER_TIMES = (
    ("prompt_eval_duration", semconv.AI_SERVER_PREFILL_MS),
    ("load_duration", semconv.AI_SERVER_LOAD_MS),
    ("total_duration", semconv.AI_SERVER_TOTAL_MS),
)
_CLIENT = int(SpanKind.CLIENT)
_PROVIDER = "ollama"
_NS_PER_MS = 1e6


def traced_request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    """``Client._request``: one span per model call."""
    if is_tracing() and len(args) > 2:
        op = _OPERATIONS.get(args[2])
        if op is not None:
            call = _start(instance, op, kwargs)
            if call is not None:
                return _run(wrapped, args, kwargs, call)
    return wrapped(*args, **kwargs)


def traced_async_request(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                         args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
    """``AsyncClient._request``: the same, for the coroutine."""
    if is_tracing() and len(args) > 2:
        op = _OPERATIONS.get(args[2])
        if op is not None:
            return _run_async(wrapped, instance, op, args, kwargs)
    return wrapped(*args, **kwargs)


def _run(wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
         call: _Call) -> Any:
    span = call.span
    if kwargs.get("stream"):
        span.start()
        try:
            stream = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.end(span, "error", exc)
            span.end(exc)
            raise
        return meter_stream(stream, span, call.count, None, call.end, start_on_pull=True)
    with span:
        try:
            response = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        call.finish(response)
    return response


async def _run_async(wrapped: Callable[..., Awaitable[Any]], instance: Any, op: str,
                     args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    call = _start(instance, op, kwargs)
    if call is None:
        return await wrapped(*args, **kwargs)
    span = call.span
    if kwargs.get("stream"):
        span.start()
        try:
            stream = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.end(span, "error", exc)
            span.end(exc)
            raise
        return meter_async_stream(stream, span, call.count, None, call.end, start_on_pull=True)
    with span:
        try:
            response = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        call.finish(response)
    return response


def _start(client: Any, op: str, kwargs: dict[str, Any]) -> _Call | None:
    try:
        body = kwargs.get("json") or {}
        model = body.get("model") or None
        attrs = _server_attributes(client)
        options = body.get("options")
        if options:
            for key, name in _OPTIONS:
                value = options.get(key)
                if value is not None:
                    attrs[name] = value
        if op == semconv.OPERATION_EMBEDDINGS:
            inputs = body.get("input", body.get("prompt"))
            attrs[semconv.AI_EMBEDDING_INPUTS] = (
                1 if inputs is None or isinstance(inputs, str) else len(inputs))
        capture = content_capture_enabled()
        if capture:
            if op == semconv.OPERATION_CHAT:
                prompt = body.get("messages")
            else:
                prompt = body.get("prompt", body.get("input"))
            text = capture_content(_text(prompt))
            if text is not None:
                attrs[semconv.AI_LLM_PROMPT] = text
        # No name: the exporter thread names it "{operation} {model}".
        span = SCOPE.LlmSpan(None, model, operation=op, provider=_PROVIDER, attributes=attrs,
                             kind=_CLIENT)
        return _Call(span, op, capture)
    except Exception:
        log_internal_error("ollama-start", "axonize: could not read an ollama call")
        return None


def _server_attributes(client: Any) -> dict[str, Any]:
    """A new dict with ``server.address`` / ``server.port`` of the client's host (cached)."""
    url = client._client.base_url
    cached = client.__dict__.get("_axonize_server")
    if cached is None or cached[0] is not url:
        port = url.port or {"https": 443, "http": 80}.get(url.scheme)
        attrs: dict[str, Any] = {}
        if url.host:
            attrs[semconv.SERVER_ADDRESS] = url.host
        if port:
            attrs[semconv.SERVER_PORT] = port
        cached = (url, attrs)
        client.__dict__["_axonize_server"] = cached
    return cached[1].copy()  # type: ignore[no-any-return]


class _Call:
    """One call in flight: what is needed to count its stream and read its response."""

    __slots__ = ("capture", "chat", "embed", "last", "parts", "span", "tools")

    def __init__(self, span: LlmSpan, op: str, capture: bool) -> None:
        self.span = span
        self.chat = op == semconv.OPERATION_CHAT
        self.embed = op == semconv.OPERATION_EMBEDDINGS
        self.capture = capture
        self.last: Any = None
        self.tools: list[str] | None = None
        self.parts: list[str] | None = [] if capture else None

    # -- streamed chunks: the meter calls count() for every chunk, end() once -------------
    def count(self, chunk: Any) -> int:
        """Tokens in one chunk: one per chunk that carries output (the final chunk has none)."""
        self.last = chunk
        if self.chat:
            message = chunk.message
            text = message.content
            if message.tool_calls:
                self._tool_calls(message.tool_calls)
                return 1
            if not text:
                return 1 if getattr(message, "thinking", None) else 0
        else:
            text = chunk.response
            if not text:
                return 1 if getattr(chunk, "thinking", None) else 0
        if self.parts is not None:
            self.parts.append(text)
        return 1

    def end(self, span: LlmSpan, how: str, exc: BaseException | None) -> None:
        try:
            if exc is not None:
                self.failed(exc)
            last = self.last
            if last is not None and getattr(last, "done", False):
                self._final(last)
            if self.parts:
                self._completion("".join(self.parts))
            if self.tools:
                span.set_attribute(semconv.AI_LLM_TOOL_CALLS, self.tools)
        except Exception:
            log_internal_error("ollama-end", "axonize: could not read an ollama stream")

    # -- a whole response -----------------------------------------------------------------
    def finish(self, response: Any) -> None:
        try:
            if self.embed:
                self._embeddings(response)
                return
            self._final(response)
            if self.chat:
                message = response.message
                if message.tool_calls:
                    self._tool_calls(message.tool_calls)
                    self.span.set_attribute(semconv.AI_LLM_TOOL_CALLS, self.tools)
                if self.capture:
                    self._completion((message.content or "") + "".join(self.parts or ()))
            elif self.capture:
                self._completion(response.response)
        except Exception:
            log_internal_error("ollama-finish", "axonize: could not read an ollama response")

    def failed(self, exc: BaseException) -> None:
        """Add what an error says beyond its class (the HTTP status of a ``ResponseError``)."""
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and status > 0:
            self.span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status)

    def _final(self, r: Any) -> None:
        """Token counts and the server's timings, from a final chunk or a whole response."""
        span = self.span
        f = r.__dict__  # the response's fields (a pydantic model): one lookup each
        tokens_in = f.get("prompt_eval_count")
        if tokens_in is not None:
            span.set_tokens_input(tokens_in)
        eval_count = f.get("eval_count")
        if eval_count is not None:
            span.set_tokens_output(eval_count)
        a: dict[str, Any] = {}
        eval_ns = f.get("eval_duration")
        if eval_count and eval_ns:
            a[semconv.AI_SERVER_TOKENS_PER_SECOND] = eval_count / (eval_ns / 1e9)
        for key, name in _SERVER_TIMES:
            value = f.get(key)
            if value is not None:
                a[name] = value / _NS_PER_MS
        reason = f.get("done_reason")
        if reason:
            a[semconv.AI_LLM_FINISH_REASONS] = (reason,)
        model = f.get("model")
        if model:
            a[semconv.AI_RESPONSE_MODEL] = model
        span.set_attributes(a)

    def _embeddings(self, r: Any) -> None:
        span = self.span
        vectors = getattr(r, "embeddings", None)
        if vectors is None:  # the older /api/embeddings: one vector
            vector = getattr(r, "embedding", None)
            vectors = [vector] if vector else []
        if vectors and vectors[0] is not None:
            span.set_attribute(semconv.AI_EMBEDDING_DIMENSIONS, len(vectors[0]))
        count = getattr(r, "prompt_eval_count", None)
        if count is not None:
            span.set_tokens_input(count)
        for key, name in (("load_duration", semconv.AI_SERVER_LOAD_MS),
                          ("total_duration", semconv.AI_SERVER_TOTAL_MS)):
            value = getattr(r, key, None)
            if value is not None:
                span.set_attribute(name, value / _NS_PER_MS)
        model = getattr(r, "model", None)
        if model:
            span.set_attribute(semconv.AI_RESPONSE_MODEL, model)

    def _tool_calls(self, calls: Any) -> None:
        names = self.tools if self.tools is not None else []
        for call in calls:
            names.append(str(call.function.name))
        self.tools = names
        if self.capture and self.parts is not None:
            self.parts.extend(f"[tool call {c.function.name}({dict(c.function.arguments)})]"
                              for c in calls)

    def _completion(self, text: Any) -> None:
        captured = capture_content(text)
        if captured:
            self.span.set_attribute(semconv.AI_LLM_COMPLETION, captured)


def _text(prompt: Any) -> str | None:
    """Prompt as text: chat messages as ``role: content`` lines."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    lines = []
    for item in prompt:
        if isinstance(item, dict):
            lines.append(f"{item.get('role', '')}: {item.get('content', '')}")
        else:
            lines.append(str(item))
    return "\n".join(lines)
