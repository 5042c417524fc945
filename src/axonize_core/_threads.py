"""Context follows the work: threads and executor tasks started under a span stay its children.

``install()`` (called by ``init`` unless ``thread_context=False``) patches two methods:

- ``threading.Thread.start``: a thread started while a span (or an OTel context) is current
  runs its ``run`` under that context (:class:`~axonize_core._carry.TraceContext`);
- ``concurrent.futures.ThreadPoolExecutor.submit`` (``Executor.map`` and
  ``loop.run_in_executor`` go through it): each task submitted while a span is current runs
  under it, and the pool thread gets its own context back when the task ends, so a task
  submitted later with no span current has no parent.  The pool's worker threads, started
  inside ``submit``, carry nothing.

With no span current either patch only reads two context variables and calls the original with
the very same arguments.  Nothing here may raise into the caller: a failure falls back to the
original behaviour and is logged once at debug level.
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

from axonize_core._carry import TraceContext, capture
from axonize_core._log import debug_once

# What ``install`` found (the originals, or whatever another tool put there first).
_ORIGINAL_START: Callable[[threading.Thread], None] = threading.Thread.start
_ORIGINAL_SUBMIT: Callable[..., Future[Any]] = ThreadPoolExecutor.submit
#: True inside a patched ``submit``: the worker threads it starts carry nothing.
_IN_SUBMIT: ContextVar[bool] = ContextVar("axonize_in_submit", default=False)


def _run_thread(thread: threading.Thread, ctx: TraceContext, run: Callable[[], Any]) -> None:
    try:
        ctx.run(run)
    finally:
        # Drop the carried context with the thread's end (the Thread object may live on).
        try:
            if thread.__dict__.get("run") is not None:
                del thread.__dict__["run"]
        except Exception:
            pass


def _start(self: threading.Thread) -> None:
    ctx = capture()
    if ctx is not None:
        try:
            if not _IN_SUBMIT.get():
                self.run = functools.partial(  # type: ignore[method-assign]
                    _run_thread, self, ctx, self.run)
        except Exception:
            debug_once("thread-start", "axonize: could not carry the context into a thread",
                       exc_info=True)
    _ORIGINAL_START(self)


_start.__doc__ = _ORIGINAL_START.__doc__
_start.__name__ = "start"
_start.__qualname__ = "Thread.start"


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
            **kwargs: Any) -> Future[Any]:
    ctx = capture()
    if ctx is None or _foreign(self):
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    try:
        carried = functools.partial(ctx.run, fn)
        token = _IN_SUBMIT.set(True)
    except Exception:
        debug_once("executor-submit", "axonize: could not carry the context into a task",
                   exc_info=True)
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    try:
        return _ORIGINAL_SUBMIT(self, carried, *args, **kwargs)
    finally:
        _IN_SUBMIT.reset(token)


_submit.__doc__ = _ORIGINAL_SUBMIT.__doc__
_submit.__name__ = "submit"
_submit.__qualname__ = "ThreadPoolExecutor.submit"

#: Executors that subclass ThreadPoolExecutor but send the callable elsewhere (Python 3.14's
#: InterpreterPoolExecutor pickles it into another interpreter): left untouched.
_FOREIGN: tuple[type, ...] = tuple(
    cls for cls in (getattr(concurrent.futures, "InterpreterPoolExecutor", None),)
    if isinstance(cls, type))


def _foreign(executor: ThreadPoolExecutor) -> bool:
    return bool(_FOREIGN) and isinstance(executor, _FOREIGN)


def installed() -> bool:
    """Whether the thread hooks are in place."""
    return threading.Thread.__dict__.get("start") is _start


def install() -> None:
    """Patch ``Thread.start`` and ``ThreadPoolExecutor.submit`` (idempotent)."""
    global _ORIGINAL_START, _ORIGINAL_SUBMIT
    try:
        start = threading.Thread.start
        if start is not _start:
            _ORIGINAL_START = start
            threading.Thread.start = _start  # type: ignore[method-assign]
        submit = ThreadPoolExecutor.submit
        if submit is not _submit:
            _ORIGINAL_SUBMIT = submit
            ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign, assignment]
    except Exception:
        debug_once("threads-install", "axonize: could not install the thread hooks",
                   exc_info=True)


def uninstall() -> None:
    """Restore both methods (a patch someone applied over ours is left in place)."""
    if threading.Thread.__dict__.get("start") is _start:
        threading.Thread.start = _ORIGINAL_START  # type: ignore[method-assign, assignment]
    if ThreadPoolExecutor.__dict__.get("submit") is _submit:
        ThreadPoolExecutor.submit = _ORIGINAL_SUBMIT  # type: ignore[method-assign]
