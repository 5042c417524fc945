"""Carrying the trace context by hand: ``axonize.context()`` and ``axonize.attach(...)``.

A :class:`TraceContext` is what is current on the calling thread: Axonize's span and
OpenTelemetry's context (which holds an OTel span, or the mirror of an Axonize span while an OTel
tracer provider is installed, and baggage).  Nothing else of the caller's ``contextvars`` is
carried: the work sees the caller's trace, not the caller's other state.  The thread hooks
(``_threads``) use the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from opentelemetry import context as _otel_context

from axonize_core import _state
from axonize_core.owner import OWNER, owner_in

if TYPE_CHECKING:
    from axonize_core._span import Span

P = ParamSpec("P")
R = TypeVar("R")

CURRENT = _state.CURRENT
_otel_get_current = _otel_context.get_current
_otel_attach = _otel_context.attach
_otel_detach = _otel_context.detach
_EMPTY_OTEL = _otel_context.Context()


def _otel_context_var() -> Callable[[Any], Any]:
    """``get`` of the context variable that holds OTel's current context: reading it costs what
    reading Axonize's own does.  (A runtime context other than OTel's default gets a reader that
    goes through ``opentelemetry.context``.)"""
    var = getattr(getattr(_otel_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    if isinstance(var, ContextVar):
        return var.get

    def current(default: Any) -> Any:
        try:
            return _otel_get_current()
        except Exception:
            return default

    return current


#: ``OTEL_NOW(None)``: OTel's current context (an OTel span, the mirror of an Axonize span while
#: an OTel tracer provider is installed, baggage such as ``axonize.owner``'s), or None when
#: nothing was attached.  An empty context is false.
OTEL_NOW = _otel_context_var()


class TraceContext:
    """The trace context captured by :func:`context`: run work under it on any thread.

    ``ctx.run(fn, *args)`` calls ``fn`` with the captured span as the parent of the spans it
    makes; ``ctx.wrap(fn)`` returns such a callable; ``with axonize.attach(ctx):`` does it for
    a block.  The thread that runs it gets its own context back afterwards.
    """

    __slots__ = ("otel", "span")

    def __init__(self, span: Span | None, otel: _otel_context.Context | None) -> None:
        self.span = span
        #: OTel's context, or None when it was empty (nothing to attach)
        self.otel = otel

    def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` under this context; the caller's is restored after."""
        return run_in(self.span, self.otel, fn, *args, **kwargs)

    def wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        """``fn`` as a callable that runs under this context wherever it is called."""

        def carried(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.run(fn, *args, **kwargs)

        return carried

    def __repr__(self) -> str:
        return f"<TraceContext span={self.span!r}>"


def _reset(token: Token[Span | None]) -> None:
    try:
        CURRENT.reset(token)
    except (ValueError, RuntimeError):
        pass


def run_in(span: Span | None, otel: _otel_context.Context | None, fn: Callable[P, R], /,
           *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` with ``span`` current and ``otel`` attached (None: empty), and
    the owner that ``otel``'s baggage names; the thread's own context is back afterwards."""
    token = CURRENT.set(span)
    if otel is None and not OTEL_NOW(None):  # the common case, kept short
        try:
            return fn(*args, **kwargs)
        finally:
            CURRENT.reset(token)  # same thread, same context: cannot fail
    otel_token = _otel_attach(_EMPTY_OTEL if otel is None else otel)
    owner_token = OWNER.set(None if otel is None else owner_in(otel))  # from the baggage
    try:
        return fn(*args, **kwargs)
    finally:
        OWNER.reset(owner_token)
        _otel_detach(otel_token)
        _reset(token)


def capture() -> TraceContext | None:
    """What is current, or None when no span and no OTel context is (nothing to carry)."""
    span = CURRENT.get()
    otel = OTEL_NOW(None) or None  # with or without a tracer provider: baggage too
    if span is None and otel is None:
        return None
    return TraceContext(span, otel)


def context() -> TraceContext:
    """The current trace context, to carry by hand to work that no hook follows.

    ::

        ctx = axonize.context()            # where the request's span is current
        ...
        with axonize.attach(ctx):          # on the thread that does the work
            model.generate(...)            # a child of the request's span
    """
    return capture() or TraceContext(None, None)


class attach:  # lower case: used as a function, ``with axonize.attach(ctx):``
    """Make ``ctx`` (from :func:`context`) current for a ``with`` block; None: no span at all.

    On exit the thread's own context is back, so a pool thread keeps no parent from it.
    """

    __slots__ = ("_ctx", "_otel_token", "_owner_token", "_token")

    def __init__(self, ctx: TraceContext | None) -> None:
        self._ctx = ctx if ctx is not None else TraceContext(None, None)
        self._token: Token[Span | None] | None = None
        self._otel_token: Any = None
        self._owner_token: Any = None

    def __enter__(self) -> TraceContext:
        ctx = self._ctx
        self._token = CURRENT.set(ctx.span)
        otel = ctx.otel
        if otel is not None or OTEL_NOW(None):  # ``attach(None)`` clears baggage too
            try:
                self._otel_token = _otel_attach(_EMPTY_OTEL if otel is None else otel)
                self._owner_token = OWNER.set(None if otel is None else owner_in(otel))
            except Exception:
                pass
        return ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        owner_token, self._owner_token = self._owner_token, None
        if owner_token is not None:
            try:
                OWNER.reset(owner_token)
            except Exception:
                pass
        otel_token, self._otel_token = self._otel_token, None
        if otel_token is not None:
            try:
                _otel_detach(otel_token)
            except Exception:
                pass
        token, self._token = self._token, None
        if token is not None:
            _reset(token)
