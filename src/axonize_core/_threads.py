"""Context follows the work: threads and executor tasks started under a span stay its children.

``install()`` (called by ``init`` unless ``thread_context=False``) replaces two names that the
standard library looks up each time it hands work over, so the caller runs no wrapper of
``Thread.start`` or ``ThreadPoolExecutor.submit``:

- ``threading._start_new_thread`` (``_start_joinable_thread`` from Python 3.13), which
  ``Thread.start`` calls with the thread's bootstrap: while a span (or an OTel context) is
  current, the new thread first enters it, then runs the bootstrap, so ``run`` (a target, a
  subclass's own ``run``, a ``Timer``) runs under it.  Nothing is stored on the Thread object.
- ``concurrent.futures.thread._WorkItem``, which ``submit`` (and so ``Executor.map``,
  ``loop.run_in_executor`` and ``asyncio.to_thread``) makes for each task, by a subclass of it:
  a task submitted while a span is current runs as ``run_in(span, otel, fn, *args)``, which
  gives the pool thread its own context back when the task ends, so a task submitted later with
  no span current has no parent.  Where ``_WorkItem`` is not made as ``(future, fn, args, kwargs)``
  (Python 3.14), ``ThreadPoolExecutor.submit`` is wrapped instead.

Pool threads carry nothing of the moment they were started: a ThreadPoolExecutor's own workers
are recognised by their target (``concurrent.futures.thread._worker``), and a subclass that
starts threads its own way (its own ``_adjust_thread_count``) does so with no span current.

With no span current and no OTel context attached (an OTel span, or baggage such as
``axonize.owner``'s) a hook reads two context variables and calls the original with the very
same arguments.  Nothing here may raise into the caller: a failure falls back to the original
behaviour and is logged once at debug level.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from axonize_core import _state
from axonize_core._carry import OTEL_NOW, _otel_attach, attach, run_in
from axonize_core._log import debug_once
from axonize_core.owner import OWNER, owner_in

if TYPE_CHECKING:
    from axonize_core._span import Span

CURRENT = _state.CURRENT
_pool_module: Any = concurrent.futures.thread  # whose ``_WorkItem`` the hook replaces
#: The function every ThreadPoolExecutor's worker thread runs: such a thread carries nothing,
#: or it would hand a stale parent to the tasks submitted later with no span current.
_POOL_WORKER: Any = getattr(_pool_module, "_worker", None)

_SPAWN_NAMES = ("_start_joinable_thread", "_start_new_thread")  # Python 3.13+, 3.10-3.12


def spawn_name(start: Any) -> str | None:
    """The name in ``threading`` that ``start`` (``Thread.start``, perhaps wrapped by another
    tool) calls to make the OS thread; None when this Python has neither."""
    code = getattr(inspect.unwrap(start), "__code__", None)
    named = [n for n in _SPAWN_NAMES if callable(getattr(threading, n, None))]
    for name in named:
        if code is not None and name in code.co_names:
            return name
    return named[0] if named else None  # a wrapper that hides the original: the newest


#: The name in ``threading`` that ``Thread.start`` calls to make the OS thread.
SPAWN_NAME = spawn_name(threading.Thread.start)
#: ``_WorkItem(future, fn, args, kwargs)``: tasks are carried by the work item factory.
_WORK_ITEM: Any = getattr(_pool_module, "_WorkItem", None)


def _made_as_fn_args_kwargs(cls: Any) -> bool:
    """Whether ``cls(future, fn, args, kwargs)`` stores exactly those four, under those names
    (what :class:`_CarryingWorkItem` does itself)."""
    given = {"future": object(), "fn": object(), "args": (), "kwargs": {}}
    try:
        stored = vars(cls(*given.values()))
        return stored.keys() == given.keys() and all(stored[k] is v for k, v in given.items())
    except Exception:
        return False


ITEM_HOOK = isinstance(_WORK_ITEM, type) and _made_as_fn_args_kwargs(_WORK_ITEM)

# What ``install`` found (the originals, or whatever another tool put there first).
_ORIGINAL_SPAWN: Any = getattr(threading, SPAWN_NAME) if SPAWN_NAME else None
_ORIGINAL_SUBMIT: Callable[..., Future[Any]] = ThreadPoolExecutor.submit


def _enter(span: Span | None, otel: Any) -> None:
    CURRENT.set(span)  # a new thread's context is empty: nothing to restore later
    if otel:  # not None, nor an empty OTel context
        _otel_attach(otel)
        OWNER.set(owner_in(otel))  # axonize.owner(...) travels in the baggage


def _carried(bootstrap: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any] | None, carry: list[Any]) -> Any:
    """What a thread started under a span runs first, on itself: enter the span, then run
    ``Thread._bootstrap`` (which runs ``run``).  ``carry`` is ``[span, otel]``, emptied first:
    these arguments live as long as the thread, and a pool's worker must not keep the span."""
    _enter_carried(bootstrap, carry)
    if kwargs is None:
        return bootstrap(*args)
    return bootstrap(*args, **kwargs)


def _enter_carried(bootstrap: Callable[..., Any], carry: list[Any]) -> None:
    try:
        span, otel = carry
        carry.clear()
        thread = bootstrap.__self__  # type: ignore[attr-defined]
        if thread._target is not _POOL_WORKER:
            if _RUNS_IN_OWN_CONTEXT:  # Python 3.14 runs ``run`` in the Thread's ``_context``
                thread._context.run(_enter, span, otel)
            else:
                _enter(span, otel)
    except Exception:
        carry.clear()
        debug_once("thread-run", "axonize: could not carry the context into a thread",
                   exc_info=True)


#: ``Thread._bootstrap_inner`` runs ``run`` in ``self._context`` (Python 3.14 and later).
_RUNS_IN_OWN_CONTEXT = "_context" in threading.Thread._bootstrap_inner.__code__.co_names  # type: ignore[attr-defined]

# The hooks below read what they need from their own default arguments: the starting thread
# runs them right after the kernel made the previous thread, when every object touched for
# the first time costs a cache (and TLB) miss, several times what a warm loop pays.  So the
# common case reads two context variables (Axonize's span, OTel's context) and one flag, all
# local, and ``_bind`` sets them on install.  ``_on`` is False while our hook stays in another
# tool's chain after ``uninstall``.


def _start_new_thread(function: Callable[..., Any], args: tuple[Any, ...],
                      kwargs: dict[str, Any] | None = None, _on: bool = False,
                      _span: Callable[[], Any] = CURRENT.get,
                      _otel: Callable[[Any], Any] = OTEL_NOW, /) -> Any:
    """``threading._start_new_thread`` (Python 3.10 to 3.12)."""
    span = _span()
    otel = _otel(None)
    if (span is None and not otel) or not _on:  # as if unpatched
        if kwargs is None:
            return _ORIGINAL_SPAWN(function, args)
        return _ORIGINAL_SPAWN(function, args, kwargs)
    return _ORIGINAL_SPAWN(_carried, (function, args, kwargs, [span, otel]))


def _start_joinable_thread(function: Callable[[], Any], handle: Any = None,
                           daemon: bool = True, *, _on: bool = False,
                           _span: Callable[[], Any] = CURRENT.get,
                           _otel: Callable[[Any], Any] = OTEL_NOW) -> Any:
    """``threading._start_joinable_thread`` (Python 3.13 and later)."""
    span = _span()
    otel = _otel(None)
    if (span is None and not otel) or not _on:  # as if unpatched
        return _ORIGINAL_SPAWN(function, handle=handle, daemon=daemon)
    return _ORIGINAL_SPAWN(partial(_carried, function, (), None, [span, otel]),
                           handle=handle, daemon=daemon)


_SPAWN_HOOK: Any = {"_start_new_thread": _start_new_thread,
                    "_start_joinable_thread": _start_joinable_thread}.get(SPAWN_NAME or "")


class _CarryingWorkItem(_WORK_ITEM if ITEM_HOOK else object):  # type: ignore[misc]
    """``concurrent.futures.thread._WorkItem`` while the hooks are installed: made as
    ``submit`` makes it, a task submitted while a span (or an OTel context) is current runs as
    ``run_in(span, otel, fn, *args)``.  A subclass of the original, so ``isinstance``,
    ``_WorkItem[T]`` and subclassing behave as before."""

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any], _on: bool = False,
                 _span: Callable[[], Any] = CURRENT.get,
                 _otel: Callable[[Any], Any] = OTEL_NOW, /) -> None:
        span = _span()
        otel = _otel(None)
        self.future = future
        if (span is None and not otel) or not _on:  # as if unpatched
            self.fn = fn
            self.args = args
        else:
            self.fn = run_in
            # Concatenation is cheaper than unpacking.
            self.args = (span, otel or None, fn) + args  # noqa: RUF005
        self.kwargs = kwargs


_CarryingWorkItem.__name__ = _CarryingWorkItem.__qualname__ = "_WorkItem"


def _bind(on: bool) -> None:
    """Switch the hooks on or off where they stand."""
    for hook in (_start_new_thread, _CarryingWorkItem.__init__):
        defaults = hook.__defaults__
        assert defaults is not None
        hook.__defaults__ = (*defaults[:-3], on, CURRENT.get, OTEL_NOW)
    kw = _start_joinable_thread.__kwdefaults__
    assert kw is not None
    kw["_on"] = on


# -- Python 3.14: ``_WorkItem`` is made from a resolved task, so ``submit`` is wrapped -------

def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
            **kwargs: Any) -> Future[Any]:
    span = CURRENT.get()
    otel = OTEL_NOW(None)
    if (span is None and not otel) or not _hooks.on:  # as if unpatched
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    if type(self) is not ThreadPoolExecutor:
        return _submit_to_subclass(self, span, otel or None, fn, *args, **kwargs)
    return _ORIGINAL_SUBMIT(self, run_in, span, otel or None, fn, *args, **kwargs)


def _submit_to_subclass(self: ThreadPoolExecutor, span: Span | None, otel: Any,
                        fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    """``submit`` of a ThreadPoolExecutor subclass, which may start its worker threads with a
    function of its own: nothing is current while the original runs, so nothing is carried."""
    if _FOREIGN and isinstance(self, _FOREIGN):
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    with attach(None):  # no span, no OTel context, no owner
        return _ORIGINAL_SUBMIT(self, run_in, span, otel, fn, *args, **kwargs)


_submit.__doc__ = _ORIGINAL_SUBMIT.__doc__
_submit.__name__ = "submit"
_submit.__qualname__ = "ThreadPoolExecutor.submit"

#: Executors that subclass ThreadPoolExecutor but send the callable elsewhere (Python 3.14's
#: InterpreterPoolExecutor pickles it into another interpreter): left untouched.
_FOREIGN: tuple[type, ...] = tuple(
    cls for cls in (getattr(concurrent.futures, "InterpreterPoolExecutor", None),)
    if isinstance(cls, type))


# -- ThreadPoolExecutor subclasses that start their worker threads their own way ------------

#: Subclass -> its own ``_adjust_thread_count``, while ours stands in for it.
_GUARDED: dict[type, Callable[[Any], Any]] = {}


def _guard(cls: type) -> None:
    """A subclass with its own ``_adjust_thread_count`` starts its threads with no span (and no
    OTel context) current: they are pool threads, which must not keep the submitter's parent."""
    own = cls.__dict__.get("_adjust_thread_count")
    if own is None or getattr(own, "__axonize_guard__", False) or (_FOREIGN and issubclass(
            cls, _FOREIGN)):
        return

    def _adjust_thread_count(self: Any) -> Any:
        with attach(None):  # no span, no OTel context, no owner
            return own(self)

    _adjust_thread_count.__axonize_guard__ = True  # type: ignore[attr-defined]
    _adjust_thread_count.__wrapped__ = own  # type: ignore[attr-defined]
    _adjust_thread_count.__qualname__ = getattr(own, "__qualname__", "_adjust_thread_count")
    _GUARDED[cls] = own
    cls._adjust_thread_count = _adjust_thread_count  # type: ignore[attr-defined]


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    todo: list[type] = list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        if sub not in found:
            found.append(sub)
            todo.extend(sub.__subclasses__())
    return found


def _init_subclass(cls: Any, /, **kwargs: Any) -> None:
    """``ThreadPoolExecutor.__init_subclass__`` while the hooks are installed."""
    super(ThreadPoolExecutor, cls).__init_subclass__(**kwargs)
    try:
        _guard(cls)
    except Exception:
        debug_once("pool-subclass", "axonize: could not guard a ThreadPoolExecutor subclass",
                   exc_info=True)


def _guard_subclasses() -> None:
    if "__init_subclass__" not in ThreadPoolExecutor.__dict__:
        ThreadPoolExecutor.__init_subclass__ = classmethod(_init_subclass)  # type: ignore[assignment]
    for sub in _subclasses(ThreadPoolExecutor):
        _guard(sub)


def _unguard_subclasses() -> None:
    init = ThreadPoolExecutor.__dict__.get("__init_subclass__")
    if isinstance(init, classmethod) and init.__func__ is _init_subclass:
        del ThreadPoolExecutor.__init_subclass__
    for cls, own in list(_GUARDED.items()):
        ours = cls.__dict__.get("_adjust_thread_count")
        if getattr(ours, "__axonize_guard__", False):
            cls._adjust_thread_count = own  # type: ignore[attr-defined]
        del _GUARDED[cls]


# -- install / uninstall ---------------------------------------------------------------------

def installed() -> bool:
    """Whether the thread hooks are on."""
    return _hooks.on


class _Hooks:
    """``on``: the hooks carry context; ``spawn``/``item``/``submit``: our function is in
    place (it stays in the chain, switched off, when another tool has wrapped it over ours)."""

    __slots__ = ("item", "on", "spawn", "submit")

    def __init__(self) -> None:
        self.on = self.spawn = self.item = self.submit = False


_hooks = _Hooks()


def install() -> None:
    """Put the hooks in place (idempotent)."""
    global _ORIGINAL_SPAWN, _ORIGINAL_SUBMIT
    try:
        if not _hooks.spawn and SPAWN_NAME is not None:
            _ORIGINAL_SPAWN = getattr(threading, SPAWN_NAME)
            setattr(threading, SPAWN_NAME, _SPAWN_HOOK)
            _hooks.spawn = True
        if ITEM_HOOK and _pool_module._WorkItem in (_WORK_ITEM, _CarryingWorkItem):
            if not _hooks.item:
                _pool_module._WorkItem = _CarryingWorkItem
                _hooks.item = True
            _guard_subclasses()
        elif not _hooks.submit:
            _ORIGINAL_SUBMIT = ThreadPoolExecutor.submit
            ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign, assignment]
            _hooks.submit = True
        _hooks.on = True
        _bind(True)
    except Exception:
        debug_once("threads-install", "axonize: could not install the thread hooks",
                   exc_info=True)
    if SPAWN_NAME is None:
        debug_once("threads-spawn", "axonize: this Python's Thread.start calls neither "
                   "_start_new_thread nor _start_joinable_thread: threads are not followed")


def uninstall() -> None:
    """Put the originals back.  If another tool has wrapped a hook over ours, ours stays in its
    chain but carries nothing."""
    _hooks.on = False
    _bind(False)
    if SPAWN_NAME is not None and getattr(threading, SPAWN_NAME, None) is _SPAWN_HOOK:
        setattr(threading, SPAWN_NAME, _ORIGINAL_SPAWN)
        _hooks.spawn = False
    if getattr(_pool_module, "_WorkItem", None) is _CarryingWorkItem:
        _pool_module._WorkItem = _WORK_ITEM
        _hooks.item = False
    if ThreadPoolExecutor.__dict__.get("submit") is _submit:
        ThreadPoolExecutor.submit = _ORIGINAL_SUBMIT  # type: ignore[method-assign]
        _hooks.submit = False
    _unguard_subclasses()
