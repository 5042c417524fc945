"""Context follows the work: threads and executor tasks started under a span stay its children.

``install()`` (called by ``init`` unless ``thread_context=False``) patches two methods:

- ``threading.Thread.start``: a thread started while a span (or an OTel context) is current
  runs its ``run`` under that context (:class:`~axonize_core._carry.TraceContext`);
- ``concurrent.futures.ThreadPoolExecutor.submit`` (``Executor.map`` and
  ``loop.run_in_executor`` go through it): each task submitted while a span is current runs
  under it, and the pool thread gets its own context back when the task ends, so a task
  submitted later with no span current has no parent.  The pool's worker threads (their target
  is ``concurrent.futures.thread._worker``) carry nothing.

With no span current (and no OTel tracer provider installed) either patch reads one context
variable and calls the original with the very same arguments.  Nothing here may raise into the
caller: a failure falls back to the original behaviour and is logged once at debug level.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any

from axonize_core import _state
from axonize_core._carry import _otel_attach, _otel_get_current, run_in
from axonize_core._carry import otel_now as _otel_now
from axonize_core._log import debug_once
from axonize_core._span import _OTEL

if TYPE_CHECKING:
    from axonize_core._span import Span

CURRENT = _state.CURRENT
_THREAD = threading.Thread
#: The function every ThreadPoolExecutor's worker thread runs: such a thread carries nothing,
#: or it would hand a stale parent to the tasks submitted later with no span current.
_POOL_WORKER: Any = getattr(concurrent.futures.thread, "_worker", None)
#: True inside ``submit`` of a ThreadPoolExecutor subclass (whose workers may run another
#: function) while an OTel context is current: the threads it starts carry nothing.
_IN_SUBMIT: ContextVar[bool] = ContextVar("axonize_in_submit", default=False)
_THREAD_RUN = threading.Thread.run

# What ``install`` found (the originals, or whatever another tool put there first).
_ORIGINAL_START: Callable[[threading.Thread], None] = threading.Thread.start
_ORIGINAL_SUBMIT: Callable[..., Future[Any]] = ThreadPoolExecutor.submit


def _run_thread(thread: threading.Thread, span: Span | None, otel: Any,
                run: Callable[[], Any]) -> None:
    """The carried ``run`` of a Thread subclass with its own ``run``."""
    try:
        CURRENT.set(span)  # a new thread's context is empty: nothing to restore later
        if otel is not None:
            _otel_attach(otel)
    except Exception:
        debug_once("thread-run", "axonize: could not carry the context into a thread",
                   exc_info=True)
    try:
        run()
    finally:
        # Drop the carried context with the thread's end (the Thread object may live on).
        thread.__dict__.pop("run", None)


def _run_target(span: Span | None, target: Callable[..., Any] | None, /, *args: Any,
                **kwargs: Any) -> Any:
    """The carried ``target`` of a plain Thread: ``Thread.run`` calls it with the span and the
    user's target ahead of the user's arguments (then drops ``_target`` and ``_args``)."""
    CURRENT.set(span)  # a new thread's context is empty: nothing to restore later
    if target is not None:
        return target(*args, **kwargs)
    return None


def _run_target_otel(span: Span | None, otel: Any, target: Callable[..., Any], /, *args: Any,
                     **kwargs: Any) -> Any:
    """``_run_target`` that also attaches OTel's context (an OTel tracer provider is
    installed)."""
    try:
        CURRENT.set(span)
        if otel is not None:
            _otel_attach(otel)
    except Exception:
        debug_once("thread-run", "axonize: could not carry the context into a thread",
                   exc_info=True)
    return target(*args, **kwargs)


# How ``_start_carrying`` carried the context, to undo it when the thread does not start.
_NOTHING, _TARGET, _RUN = 0, 1, 2


def _start(self: threading.Thread) -> None:
    # Every step of the common case costs: it runs right after the kernel made the previous
    # thread, with cold caches.  So the fast path reads the fewest things it can.
    span = CURRENT.get()
    if span is None:
        if _OTEL._TRACER_PROVIDER is None or not _hooks.on:  # as if unpatched
            return _ORIGINAL_START(self)
        return _start_carrying(self, None)
    if type(self) is not _THREAD or not _hooks.on or _OTEL._TRACER_PROVIDER is not None:
        return _start_carrying(self, span) if _hooks.on else _ORIGINAL_START(self)
    # A plain Thread with an Axonize span current and no OTel tracer provider: ``run``
    # calls ``_run_target(span, target, *args)``.  Replacing attributes the instance has is
    # cheaper than adding one (which rebuilds its __dict__) or making a partial.
    try:
        target = self._target  # type: ignore[attr-defined]
        if target is _POOL_WORKER:  # a pool's worker: each task carries its own context
            return _ORIGINAL_START(self)
        args = self._args  # type: ignore[attr-defined]
        # Concatenation is cheaper than unpacking; ``args`` given as a list lands in except.
        self._args = (span, target) + args  # type: ignore[attr-defined]  # noqa: RUF005
        self._target = _run_target  # type: ignore[attr-defined]
    except Exception:  # ran already (``run`` drops both), or not a Thread as made by threading
        return _start_carrying(self, span)
    try:
        return _ORIGINAL_START(self)
    except BaseException:  # not started (started twice, no thread left): leave it as it was
        self._target = target  # type: ignore[attr-defined]
        self._args = args  # type: ignore[attr-defined]
        raise


def _start_carrying(self: threading.Thread, span: Span | None) -> None:
    """``Thread.start`` carrying ``span`` and OTel's context, for any kind of Thread."""
    how = _NOTHING
    previous: Any = None
    try:
        otel = None if _OTEL._TRACER_PROVIDER is None else (_otel_get_current() or None)
        target = getattr(self, "_target", None)  # None: ran already, or no target
        if ((span is not None or otel is not None) and not _IN_SUBMIT.get()
                and target is not _POOL_WORKER):
            if type(self).run is _THREAD_RUN:
                # Thread(target=...): ``run`` calls ``_run_target_otel`` with the
                # context ahead of the user's arguments.  Replacing attributes the instance has
                # is cheap; adding one rebuilds its __dict__, and a partial costs more.
                if target is not None:
                    previous = self._args  # type: ignore[attr-defined]
                    self._args = (span, otel, target, *previous)  # type: ignore[attr-defined]
                    self._target = _run_target_otel  # type: ignore[attr-defined]
                    how = _TARGET
            else:  # a subclass with its own run()
                previous = self.__dict__.get("run", None)
                self.run = partial(  # type: ignore[method-assign]
                    _run_thread, self, span, otel, self.run)
                how = _RUN
    except Exception:
        debug_once("thread-start", "axonize: could not carry the context into a thread",
                   exc_info=True)
    if how == _NOTHING:
        return _ORIGINAL_START(self)
    try:
        return _ORIGINAL_START(self)
    except BaseException:  # not started (started twice, no thread left): leave it as it was
        try:
            if how == _TARGET:
                self._target = self._args[2]  # type: ignore[attr-defined]
                self._args = previous  # type: ignore[attr-defined]
            elif previous is None:
                self.__dict__.pop("run", None)
            else:
                self.run = previous  # type: ignore[method-assign]
        except Exception:
            pass
        raise


_start.__doc__ = _ORIGINAL_START.__doc__
_start.__name__ = "start"
_start.__qualname__ = "Thread.start"


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
            **kwargs: Any) -> Future[Any]:
    span = CURRENT.get()
    if span is None:
        if _OTEL._TRACER_PROVIDER is None or not _hooks.on:  # as if unpatched
            return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
        otel = _otel_context_now()
        if otel is None:
            return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    elif not _hooks.on:
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    else:
        otel = None if _OTEL._TRACER_PROVIDER is None else _otel_context_now()
    if type(self) is not ThreadPoolExecutor:
        return _submit_to_subclass(self, span, otel, fn, *args, **kwargs)
    # The task runs ``run_in(span, otel, fn, *args, **kwargs)``: no wrapper object to make.
    # A worker thread the original starts for it carries nothing (``_start`` knows its target).
    return _ORIGINAL_SUBMIT(self, run_in, span, otel, fn, *args, **kwargs)


def _otel_context_now() -> Any:
    try:
        return _otel_now()
    except Exception:
        debug_once("executor-submit", "axonize: could not carry the context into a task",
                   exc_info=True)
        return None


def _submit_to_subclass(self: ThreadPoolExecutor, span: Span | None, otel: Any,
                        fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    """``submit`` of a ThreadPoolExecutor subclass, which may start its worker threads with a
    function of its own: no span is current while the original runs, so none is carried."""
    if _FOREIGN and isinstance(self, _FOREIGN):
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    token = CURRENT.set(None)
    in_submit = None if otel is None else _IN_SUBMIT.set(True)
    try:
        return _ORIGINAL_SUBMIT(self, run_in, span, otel, fn, *args, **kwargs)
    finally:
        if in_submit is not None:
            _IN_SUBMIT.reset(in_submit)
        CURRENT.reset(token)


_submit.__doc__ = _ORIGINAL_SUBMIT.__doc__
_submit.__name__ = "submit"
_submit.__qualname__ = "ThreadPoolExecutor.submit"

#: Executors that subclass ThreadPoolExecutor but send the callable elsewhere (Python 3.14's
#: InterpreterPoolExecutor pickles it into another interpreter): left untouched.
_FOREIGN: tuple[type, ...] = tuple(
    cls for cls in (getattr(concurrent.futures, "InterpreterPoolExecutor", None),)
    if isinstance(cls, type))


def installed() -> bool:
    """Whether the thread hooks are on."""
    return _hooks.on


class _Hooks:
    """``on``: the hooks carry context; ``start``/``submit``: our function is in the method's
    chain (it stays there, switched off, when another tool has wrapped it over ours)."""

    __slots__ = ("on", "start", "submit")

    def __init__(self) -> None:
        self.on = self.start = self.submit = False


_hooks = _Hooks()


def install() -> None:
    """Patch ``Thread.start`` and ``ThreadPoolExecutor.submit`` (idempotent)."""
    global _ORIGINAL_START, _ORIGINAL_SUBMIT
    try:
        if not _hooks.start:
            _ORIGINAL_START = threading.Thread.start
            threading.Thread.start = _start  # type: ignore[method-assign]
            _hooks.start = True
        if not _hooks.submit:
            _ORIGINAL_SUBMIT = ThreadPoolExecutor.submit
            ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign, assignment]
            _hooks.submit = True
        _hooks.on = True
    except Exception:
        debug_once("threads-install", "axonize: could not install the thread hooks",
                   exc_info=True)


def uninstall() -> None:
    """Restore both methods.  If another tool has wrapped one over ours, ours stays in its
    chain but carries nothing."""
    _hooks.on = False
    if threading.Thread.__dict__.get("start") is _start:
        threading.Thread.start = _ORIGINAL_START  # type: ignore[method-assign, assignment]
        _hooks.start = False
    if ThreadPoolExecutor.__dict__.get("submit") is _submit:
        ThreadPoolExecutor.submit = _ORIGINAL_SUBMIT  # type: ignore[method-assign]
        _hooks.submit = False
