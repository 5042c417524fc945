"""Stream meters: transparent proxies around a streamed response that time it token by token.

``meter_stream(stream, span)`` (or ``meter_async_stream``) returns a proxy that yields exactly
the items of ``stream``, keeps its other attributes and methods, and on every item counts tokens
into the :class:`~axonize_core.LlmSpan` (first item: time to first token) and tracks the largest
gap between items.  The span ends exactly once: when the stream is exhausted, closed early,
raises, or is garbage-collected unfinished; ``ai.llm.stream.end`` says which.  Nothing the
meter does can raise into the consumer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import wrapt

from axonize_core import semconv as sc
from axonize_core._log import debug_once
from axonize_core._span import LlmSpan, NoopSpan

_time_ns = time.time_ns

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:  # older wrapt releases cannot be subscripted at run time
    _Proxy = wrapt.ObjectProxy

END_COMPLETE = "complete"
END_CLOSED = "closed"
END_ERROR = "error"
END_ABANDONED = "abandoned"

TokenCounter = Callable[[Any], int]
ItemHook = Callable[[LlmSpan, Any], None]
EndHook = Callable[[LlmSpan, str, BaseException | None], None]


class _Meter:
    """The shared bookkeeping of both proxies."""

    __slots__ = ("count", "done", "last_ns", "max_gap_ns", "on_end", "on_item", "span",
                 "start_on_pull")

    def __init__(self, span: LlmSpan | NoopSpan, count: TokenCounter | None,
                 on_item: ItemHook | None, on_end: EndHook | None,
                 start_on_pull: bool = False) -> None:
        self.span = span
        self.count = count
        self.on_item = on_item
        self.on_end = on_end
        self.start_on_pull = start_on_pull
        self.done = False
        self.last_ns = 0
        self.max_gap_ns = 0

    def first_pull(self) -> None:
        """The consumer asks for the first item: a lazy stream sends its request only now."""
        span = self.span
        if self.start_on_pull and isinstance(span, LlmSpan) and not self.done:
            span.start_ns = _time_ns()

    def item(self, item: Any) -> None:
        try:
            now = _time_ns()
            last = self.last_ns
            if last and now - last > self.max_gap_ns:
                self.max_gap_ns = now - last
            self.last_ns = now
            count = self.count
            n = 1 if count is None else count(item)
            span = self.span
            if n:
                span.record_token(n)
            elif not last:
                span.set_first_token_time(now)  # a first chunk without tokens still arrived
            if self.on_item is not None:
                self.on_item(span, item)  # type: ignore[arg-type]
        except Exception:
            debug_once("stream-item", "axonize: stream meter failed on an item", exc_info=True)

    def finish(self, how: str, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            span = self.span
            span.set_attribute(sc.AI_LLM_STREAM, True)
            span.set_attribute(sc.AI_LLM_STREAM_END, how)
            if self.max_gap_ns:
                span.set_attribute(sc.AI_LLM_TOKEN_GAP_MAX_MS, self.max_gap_ns / 1e6)
            if self.on_end is not None:
                self.on_end(span, how, exc)  # type: ignore[arg-type]
            span.end(exc)
        except Exception:
            debug_once("stream-end", "axonize: stream meter failed to end", exc_info=True)


class _MeteredProxy(_Proxy):
    """What both proxies share: the meter, the wrapped iterator, the end when collected."""

    _self_iter: Any

    def __init__(self, wrapped: Any, span: LlmSpan | NoopSpan, count: TokenCounter | None = None,
                 on_item: ItemHook | None = None, on_end: EndHook | None = None,
                 start_on_pull: bool = False) -> None:
        super().__init__(wrapped)
        self._self_meter = _Meter(span, count, on_item, on_end, start_on_pull)
        self._self_iter = None

    def __del__(self) -> None:
        meter = getattr(self, "_self_meter", None)
        if meter is not None and not meter.done:
            meter.finish(END_ABANDONED)


class MeteredStream(_MeteredProxy):
    """A sync iterator (or generator) proxy that meters what passes through."""

    _self_iter: Iterator[Any] | None

    def __iter__(self) -> MeteredStream:
        return self

    def __next__(self) -> Any:
        it = self._self_iter
        if it is None:
            self._self_meter.first_pull()
            it = self._self_iter = iter(self.__wrapped__)
        try:
            item = next(it)
        except StopIteration:
            self._self_meter.finish(END_COMPLETE)
            raise
        except GeneratorExit:
            self._self_meter.finish(END_CLOSED)
            raise
        except BaseException as exc:
            self._self_meter.finish(END_ERROR, exc)
            raise
        self._self_meter.item(item)
        return item

    def close(self) -> None:
        """Close the stream early (the span ends as ``closed``)."""
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            self._self_meter.finish(END_CLOSED)

    def __enter__(self) -> MeteredStream:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(*exc) if exit_ is not None else None
        finally:
            self._self_meter.finish(END_CLOSED if exc[0] is None else END_ERROR, exc[1])


class MeteredAsyncStream(_MeteredProxy):
    """An async iterator (or async generator) proxy that meters what passes through."""

    _self_iter: AsyncIterator[Any] | None

    def __aiter__(self) -> MeteredAsyncStream:
        return self

    async def __anext__(self) -> Any:
        it = self._self_iter
        if it is None:
            self._self_meter.first_pull()
            it = self._self_iter = self.__wrapped__.__aiter__()
        try:
            item = await it.__anext__()
        except StopAsyncIteration:
            self._self_meter.finish(END_COMPLETE)
            raise
        except GeneratorExit:
            self._self_meter.finish(END_CLOSED)
            raise
        except BaseException as exc:
            self._self_meter.finish(END_ERROR, exc)
            raise
        self._self_meter.item(item)
        return item

    async def aclose(self) -> None:
        """Close the stream early (the span ends as ``closed``)."""
        try:
            aclose = getattr(self.__wrapped__, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._self_meter.finish(END_CLOSED)

    async def __aenter__(self) -> MeteredAsyncStream:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(*exc)) if exit_ is not None else None
        finally:
            self._self_meter.finish(END_CLOSED if exc[0] is None else END_ERROR, exc[1])


def meter_stream(stream: Any, span: LlmSpan | NoopSpan, count: TokenCounter | None = None,
                 on_item: ItemHook | None = None, on_end: EndHook | None = None,
                 start_on_pull: bool = False) -> Any:
    """Wrap a started ``span`` around a sync stream; the span ends with the stream.

    ``count(item)`` gives the tokens in one item (default 1); ``on_item(span, item)`` and
    ``on_end(span, how, exc)`` let a plugin read figures from chunks (e.g. a final usage chunk)
    and from the error that ended the stream, if any, before the span ends.
    ``start_on_pull=True`` is for lazy streams (a generator that sends its request on the first
    ``next``): the span's start moves to the first pull, so that neither the duration nor the
    time to first token counts the time the caller held the stream before reading it.
    """
    return MeteredStream(stream, span, count, on_item, on_end, start_on_pull)


def meter_async_stream(stream: Any, span: LlmSpan | NoopSpan, count: TokenCounter | None = None,
                       on_item: ItemHook | None = None, on_end: EndHook | None = None,
                       start_on_pull: bool = False) -> Any:
    """``meter_stream`` for async iterators and async generators."""
    return MeteredAsyncStream(stream, span, count, on_item, on_end, start_on_pull)
