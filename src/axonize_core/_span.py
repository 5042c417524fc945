"""Spans as the caller sees them: slotted objects whose enter and exit cost about a microsecond.

Everything on the caller's thread is here and deliberately flat: no locks, no allocation beyond
the span itself (and its attribute dict once an attribute is set), no translation.  A finished
span is pushed as-is into the :class:`~axonize_core._ring.RingBuffer`; names, GenAI translation,
derived figures (TTFT, tokens/s, TPOT) and encoding happen on the exporter thread.
"""

from __future__ import annotations

import enum
import random
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as _otel_context
from opentelemetry import trace as _otel_trace

from axonize_core import _state
from axonize_core import owner as _owner
from axonize_core import semconv as sc

# Assigned, not imported: CPython 3.11 compiles ``NAME.method()`` without its method-call fast
# path when NAME came from an import, which would cost a bound method per call on the hot path.
CURRENT = _state.CURRENT
PIPELINE = _state.PIPELINE
RECORDING = _state.RECORDING
OWNER = _owner.OWNER

_time_ns = time.time_ns
_getrandbits = random.getrandbits
_MASK64 = (1 << 64) - 1

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | (
    Sequence[float])


class SpanStatus(enum.IntEnum):
    """Span status codes (the OTLP values)."""

    UNSET = 0
    OK = 1
    ERROR = 2


class SpanKind(enum.IntEnum):
    """Span kinds (the OTLP values)."""

    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class _AlwaysInstalled:
    _TRACER_PROVIDER = True


# OTel interop costs something only while an OTel tracer provider is installed: the hot path
# reads ``_OTEL._TRACER_PROVIDER`` (set by ``opentelemetry.trace.set_tracer_provider``).  Should a
# future API drop that attribute, interoperate always rather than never.
_OTEL: Any = _otel_trace if hasattr(_otel_trace, "_TRACER_PROVIDER") else _AlwaysInstalled()


class Span:
    """A unit of work.  Use as a context manager (``with axonize.span("x") as s:``)."""

    __slots__ = (
        "_otel_token",
        "_token",
        "attributes",
        "end_ns",
        "events",
        "gpus",
        "kind",
        "name",
        "parent_span_id",
        "sampled",
        "span_id",
        "start_ns",
        "status_code",
        "status_message",
        "trace_id",
    )

    def __init__(
        self,
        name: str | None,
        attributes: Mapping[str, Any] | None = None,
        kind: int = 1,
    ) -> None:
        self.name = name
        self.attributes: dict[str, Any] | None = dict(attributes) if attributes else None
        self.kind = kind
        self.events: list[tuple[int, str, dict[str, Any] | None]] | None = None
        self.sampled = False
        self.status_code = 0
        self.status_message = ""
        self.gpus: Sequence[str] | None = None
        self._otel_token: object = None
        self._token: Token[Span | None] | None  # these are set by __enter__
        self.trace_id: int
        self.span_id: int
        self.parent_span_id: int
        self.start_ns: int
        self.end_ns = 0

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> Span:
        parent = CURRENT.get()
        if _OTEL._TRACER_PROVIDER is not None:
            self._start_with_otel(parent)
            return self
        if parent is None:
            tid = _getrandbits(128)
            self.trace_id = tid
            self.parent_span_id = 0
            if not PIPELINE.fast and not self._sample_root(tid):
                return self
        elif parent.sampled:
            self.trace_id = parent.trace_id
            self.parent_span_id = parent.span_id
        else:  # a child of a sampled-out span: the parent stays current, nothing to record
            self._token = None
            self.trace_id = parent.trace_id
            self.span_id = self.parent_span_id = self.start_ns = 0
            return self
        self.sampled = True
        self.span_id = _getrandbits(64)
        self._token = CURRENT.set(self)
        self.start_ns = _time_ns()
        return self

    def _sample_root(self, tid: int) -> bool:
        """Slow path of a root span: not recording, or sampling.  False: nothing to record."""
        if not RECORDING.on:  # before init, after shutdown, or disabled: a no-op
            self._token = None
            self.trace_id = self.span_id = self.start_ns = 0
            return False
        if (tid & _MASK64) < PIPELINE.sample_bound:
            return True
        # Sampled out: current (so that children follow the decision), nothing else.
        self.span_id = self.start_ns = 0
        self._token = CURRENT.set(self)
        return False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._token
        if token is not None:
            try:
                CURRENT.reset(token)
            except (ValueError, RuntimeError):
                pass  # exited in another context (e.g. a generator finalized elsewhere)
        if self._otel_token is not None:
            self._detach_otel()
        if self.sampled:
            if exc is not None:
                self._fail(exc)  # its event is stamped before the span's end
            end = self.end_ns = _time_ns()
            # A plain span skips the call (type() of one argument is specialized to a pointer
            # read; an attribute the instance does not hold is a full lookup on Python 3.11).
            llm = None if type(self) is Span else self._llm_fields()
            p = PIPELINE  # RingBuffer.push, inlined; the layout is record()'s and _record's
            items = p.items
            if len(items) >= p.wake_at:
                p.sink.crowded()
            items.append((self.name, self.trace_id, self.span_id, self.parent_span_id,
                          self.start_ns, end, self.kind, self.attributes, self.events,
                          self.status_code, self.status_message, self.gpus, llm))

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # Explicit start/end, for spans that are not a lexical block (streams, generators).
    def start(self, activate: bool = False) -> Span:
        """Start the span as a child of the current one without (by default) making it current."""
        self.__enter__()
        token = self._token
        if not activate and token is not None:
            try:
                CURRENT.reset(token)
            except (ValueError, RuntimeError):
                pass
            self._token = None
            if self._otel_token is not None:
                self._detach_otel()
        return self

    def end(self, exc: BaseException | None = None) -> None:
        """End a span started with :meth:`start` (idempotent)."""
        if self.end_ns or not self.sampled:
            return
        if exc is not None:
            self._fail(exc)
        self.end_ns = _time_ns()
        PIPELINE.sink.push(self.record())

    #: Instrumentation scope ``(name, version)`` of the spans of this class; None: Axonize's.
    scope: tuple[str, str] | None = None

    def _llm_fields(self) -> tuple[Any, ...] | None:
        """The LLM part of the record: None for a plain span (``LlmSpan`` returns its fields)."""
        return None

    def record(self) -> tuple[Any, ...]:
        """The finished span as the exporter thread takes it (layout: ``_record``)."""
        return (self.name, self.trace_id, self.span_id, self.parent_span_id, self.start_ns,
                self.end_ns, self.kind, self.attributes, self.events, self.status_code,
                self.status_message, self.gpus, self._llm_fields())

    def activate(self) -> Token[Span | None]:
        """Make this span current (for code that runs on its behalf); undo with ``deactivate``."""
        return CURRENT.set(self)

    @staticmethod
    def deactivate(token: Token[Span | None]) -> None:
        try:
            CURRENT.reset(token)
        except (ValueError, RuntimeError):
            pass

    @property
    def is_recording(self) -> bool:
        return bool(self.sampled) and not self.end_ns

    # -------------------------------------------------------------- attributes
    def set_attribute(self, key: str, value: Any) -> None:
        a = self.attributes
        if type(value) is list:
            value = tuple(value)
        if a is None:
            self.attributes = {key: value}
        else:
            a[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        a = self.attributes
        if a is None:
            a = self.attributes = {}
        for k, v in attributes.items():
            a[k] = tuple(v) if type(v) is list else v

    def set_gpus(self, devices: Iterable[str] | str) -> None:
        """Attribute the span to these devices, named as the process sees them (``cuda:0``)."""
        self.gpus = (devices,) if isinstance(devices, str) else tuple(devices)

    def set_status(self, status: SpanStatus | int, description: str | None = None) -> None:
        self.status_code = int(status)
        self.status_message = (description or "") if self.status_code == 2 else ""

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        ev = (_time_ns(), name, dict(attributes) if attributes else None)
        if self.events is None:
            self.events = [ev]
        else:
            self.events.append(ev)

    def record_exception(
        self, exception: BaseException, attributes: Mapping[str, Any] | None = None
    ) -> None:
        """Add an ``exception`` event (type, message, stack trace) as OTel does."""
        try:
            attrs: dict[str, Any] = {
                "exception.type": _qualname(type(exception)),
                "exception.message": str(exception),
                "exception.stacktrace": "".join(
                    traceback.format_exception(type(exception), exception,
                                               exception.__traceback__)
                ),
            }
        except Exception:  # a broken __str__ must not break the caller
            attrs = {"exception.type": _qualname(type(exception))}
        if attributes:
            attrs.update(attributes)
        self.add_event("exception", attrs)

    # -------------------------------------------------------------- internals
    def _fail(self, exc: BaseException) -> None:
        self.status_code = 2
        try:
            self.status_message = f"{type(exc).__name__}: {exc}"
        except Exception:
            self.status_message = type(exc).__name__
        self.record_exception(exc)

    def _start_with_otel(self, parent: Span | None) -> None:
        """Start when an OTel tracer provider is installed: share one trace with OTel spans."""
        otel_ctx = _otel_trace.get_current_span().get_span_context()
        if otel_ctx.is_valid and (parent is None or otel_ctx.span_id != parent.span_id):
            self.trace_id = otel_ctx.trace_id
            self.parent_span_id = otel_ctx.span_id
            self.sampled = otel_ctx.trace_flags.sampled
        elif parent is not None:
            self.trace_id = parent.trace_id
            self.parent_span_id = parent.span_id
            self.sampled = parent.sampled
        else:
            tid = _getrandbits(128)
            self.trace_id = tid
            self.parent_span_id = 0
            self.sampled = RECORDING.on and (tid & _MASK64) < PIPELINE.sample_bound
        self.span_id = _getrandbits(64)
        self._token = CURRENT.set(self)
        try:
            mirror = _otel_trace.NonRecordingSpan(
                _otel_trace.SpanContext(
                    self.trace_id, self.span_id, is_remote=False,
                    trace_flags=_otel_trace.TraceFlags(1 if self.sampled else 0),
                )
            )
            self._otel_token = _otel_context.attach(_otel_trace.set_span_in_context(mirror))
        except Exception:
            self._otel_token = None
        self.start_ns = _time_ns()

    def _detach_otel(self) -> None:
        token, self._otel_token = self._otel_token, None
        try:
            _otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            pass

    def get_span_context(self) -> _otel_trace.SpanContext:
        """This span's identity as an OTel ``SpanContext`` (for propagation)."""
        return _otel_trace.SpanContext(
            self.trace_id, self.span_id, is_remote=False,
            trace_flags=_otel_trace.TraceFlags(1 if self.sampled else 0),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} span_id={getattr(self, 'span_id', 0):016x}>"


class LlmSpan(Span):
    """A span around one model call, with token accounting.

    ``record_token(n)`` on every generated token (or chunk) gives TTFT, tokens/s and TPOT, all
    derived on the exporter thread at export time.
    """

    __slots__ = (
        "first_token_ns",
        "model",
        "model_version",
        "operation",
        "provider",
        "token_count",
        "tokens_input",
        "tokens_output",
    )

    def __init__(
        self,
        name: str | None = None,
        model: str | None = None,
        *,
        operation: str = sc.OPERATION_TEXT_COMPLETION,
        provider: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        kind: int = 1,
    ) -> None:
        Span.__init__(self, name, attributes, kind)
        owner = OWNER.get()  # axonize.owner(...): explicit attributes win
        if owner is not None:
            self.attributes = {**owner, **self.attributes} if self.attributes else dict(owner)
        self.model = model
        self.model_version: str | None = None
        self.operation = operation
        self.provider = provider
        self.first_token_ns = 0
        self.token_count = 0
        self.tokens_input: int | None = None
        self.tokens_output: int | None = None

    def record_token(self, n: int = 1) -> None:
        """Count ``n`` generated tokens; the first call marks the time to first token."""
        if not self.first_token_ns:
            self.first_token_ns = _time_ns()
        self.token_count += n

    def set_tokens_input(self, n: int) -> None:
        self.tokens_input = n

    def set_tokens_output(self, n: int) -> None:
        """Set the output token count (wins over what ``record_token`` counted)."""
        self.tokens_output = n

    def set_model(self, name: str, version: str | None = None) -> None:
        self.model = name
        if version is not None:
            self.model_version = version

    def set_first_token_time(self, time_ns: int | None = None) -> None:
        """Mark the first token explicitly (when tokens are not counted one by one)."""
        self.first_token_ns = time_ns or _time_ns()

    def _llm_fields(self) -> tuple[Any, ...]:
        """The LLM part of the record (layout: ``_record``'s LLM fields)."""
        return (self.operation, self.model, self.model_version, self.provider,
                self.tokens_input, self.tokens_output, self.token_count, self.first_token_ns,
                self.scope)


class NoopSpan:
    """What ``axonize.span`` returns when tracing is off or not initialized: does nothing."""

    __slots__ = ()
    sampled = False
    is_recording = False
    name = ""
    trace_id = 0
    span_id = 0
    attributes = None

    def __enter__(self) -> NoopSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> NoopSpan:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def start(self, activate: bool = False) -> NoopSpan:
        return self

    def end(self, exc: BaseException | None = None) -> None:
        pass

    def activate(self) -> None:
        return None

    @staticmethod
    def deactivate(token: object) -> None:
        pass

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def set_gpus(self, devices: Iterable[str] | str) -> None:
        pass

    def set_status(self, status: SpanStatus | int, description: str | None = None) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def record_exception(
        self, exception: BaseException, attributes: Mapping[str, Any] | None = None
    ) -> None:
        pass

    def record_token(self, n: int = 1) -> None:
        pass

    def set_tokens_input(self, n: int) -> None:
        pass

    def set_tokens_output(self, n: int) -> None:
        pass

    def set_model(self, name: str, version: str | None = None) -> None:
        pass

    def set_first_token_time(self, time_ns: int | None = None) -> None:
        pass


NOOP_SPAN = NoopSpan()


def _qualname(cls: type) -> str:
    mod = cls.__module__
    return cls.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{cls.__qualname__}"


#: ``axonize.span(name, attributes=None, kind=SpanKind.INTERNAL)``: the class itself, so that
#: creating one costs no extra call.  Before ``init`` (or when disabled) it records nothing.
span = Span

#: ``axonize.llm_span(name=None, model=None, *, operation=..., provider=..., attributes=...)``.
llm_span = LlmSpan


def current_span() -> Span | NoopSpan:
    """The innermost active Axonize span in this context (a no-op span if none)."""
    s = CURRENT.get()
    return NOOP_SPAN if s is None else s
