"""``@axonize.trace``: a span around a function, coroutine, generator or async generator.

A generator's span covers its iteration, not its creation, and is current only while the
generator's own code runs: between two ``yield``\\ s the caller's spans are not its children.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

from axonize_core import _state
from axonize_core._span import NoopSpan, Span

# Assigned, not imported (see _span.py): keeps ``CURRENT.set()`` a fast method call.
CURRENT = _state.CURRENT
RECORDING = _state.RECORDING

F = TypeVar("F", bound=Callable[..., Any])


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    func: None = None, /, *, name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def trace(
    func: F | None = None, /, *, name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> F | Callable[[F], F]:
    """Trace every call of the decorated function (``@trace`` or ``@trace(name=...)``)."""

    def decorate(fn: F) -> F:
        span_name = name or fn.__qualname__
        attrs = dict(attributes) if attributes else None
        if inspect.isasyncgenfunction(fn):
            return _wrap_async_gen(fn, span_name, attrs)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return _wrap_gen(fn, span_name, attrs)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if not RECORDING.on:
                    return await fn(*args, **kwargs)
                with Span(span_name, attrs):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not RECORDING.on:
                return fn(*args, **kwargs)
            with Span(span_name, attrs):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


def _wrap_gen(fn: Callable[..., Generator[Any, Any, Any]], span_name: str,
              attrs: dict[str, Any] | None) -> Callable[..., Generator[Any, Any, Any]]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = fn(*args, **kwargs)
        if not RECORDING.on:
            return (yield from gen)
        sp: Span | NoopSpan = Span(span_name, attrs).start()
        error: BaseException | None = None
        try:
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = CURRENT.set(sp)  # type: ignore[arg-type]
                try:
                    item = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
                except StopIteration as stop:
                    return stop.value
                finally:
                    CURRENT.reset(token)
                to_throw = None
                try:
                    to_send = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # thrown in by the caller: pass it on
                    to_throw = exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            sp.end(error)

    return wrapper


def _wrap_async_gen(fn: Callable[..., AsyncGenerator[Any, Any]], span_name: str,
                    attrs: dict[str, Any] | None) -> Callable[..., AsyncGenerator[Any, Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        agen = fn(*args, **kwargs)
        if not RECORDING.on:
            async for item in agen:
                yield item
            return
        sp = Span(span_name, attrs).start()
        error: BaseException | None = None
        try:
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = CURRENT.set(sp)
                try:
                    if to_throw is not None:
                        item = await agen.athrow(to_throw)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    return
                finally:
                    CURRENT.reset(token)
                to_throw = None
                try:
                    to_send = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    to_throw = exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            sp.end(error)

    return wrapper
