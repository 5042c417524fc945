"""The plugin API: everything a framework plugin needs, and nothing a plugin may not use.

A plugin is one small package in the style of opentelemetry-python-contrib's instrumentations:
an instrumentor (:class:`BaseInstrumentor`) whose ``instrumentation_dependencies()`` names the
supported framework versions, whose ``_instrument()`` wraps the framework's functions (with
``wrapt``) and whose ``_uninstrument()`` undoes each wrap with :func:`unwrap`.  It registers under
the entry-point group ``axonize.plugins`` (:data:`ENTRY_POINT_GROUP`; and
``opentelemetry_instrumentor``, so that ``opentelemetry-instrument`` loads it too).

What a wrapper uses, all from this module:

- :func:`is_tracing`: whether to make a span at all (False before ``init``, after ``shutdown``);
- :class:`InstrumentationScope`: the plugin's own scope (name, version) and its span class,
  ``scope.LlmSpan(...)``, with setters for every figure (``record_token``,
  ``set_tokens_input``/``_output``, ``set_first_token_time``, ``set_attribute(s)``,
  ``set_status``, ``set_gpus``, ``set_model``);
- :func:`meter_stream` / :func:`meter_async_stream`: time and count a streamed response
  without changing what the caller receives;
- :func:`capture_content` / :func:`content_capture_enabled`: prompts and completions, only when
  the user asked for them;
- :func:`log_internal_error`: report a failure of the plugin's own code once, at debug level
  (re-raised under ``AXONIZE_STRICT=1``), never into the user's code;
- :mod:`semconv` for attribute names, :class:`SpanKind`, :class:`SpanStatus`, and
  :func:`add_export_hook` for work on the exporter thread;
- :func:`context` / :func:`attach` (:class:`TraceContext`): carry the current span to a thread
  that no hook follows (threads and ``ThreadPoolExecutor`` tasks are followed already);
- :func:`emit_span`: record a span after the fact with the start and end an engine measured
  (a request's queue, prefill and decode, stamped by the engine's scheduler).

Activation is lazy: :meth:`BaseInstrumentor.instrument` checks the installed framework version
and then patches when the framework's module is imported (right away if it already is).  A
plugin that fails to patch logs once, reverses what it did, and leaves the framework untouched.
Discovery and activation of installed plugins belong to the launcher (``axonize_core._plugins``).
"""

from __future__ import annotations

import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import wrapt

from axonize_core import _span, semconv
from axonize_core._carry import TraceContext, attach, context
from axonize_core._log import debug_once, logger
from axonize_core._runtime import add_export_hook, configured, remove_export_hook
from axonize_core._span import LlmSpan, Span, SpanKind, SpanStatus
from axonize_core._state import RECORDING
from axonize_core._timed import emit_span
from axonize_core.streams import meter_async_stream, meter_stream

ENTRY_POINT_GROUP = "axonize.plugins"


@dataclass
class DependencyStatus:
    """Whether a plugin's framework is installed in a supported version."""

    ok: bool
    requirement: str
    installed: str | None  # version found, None if not installed
    reason: str


def check_requirements(requirements: Collection[str]) -> DependencyStatus:
    """All requirements (``"transformers >= 4.45, < 6"``) satisfied by installed distributions?"""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    found = None
    for text in requirements:
        req = Requirement(text)
        try:
            found = version(req.name)
        except PackageNotFoundError:
            return DependencyStatus(False, text, None, f"{req.name} is not installed")
        if found not in req.specifier and not req.specifier.contains(found, prereleases=True):
            return DependencyStatus(False, text, found,
                                    f"{req.name} {found} is outside the supported range")
    reqs = ", ".join(requirements)
    return DependencyStatus(True, reqs, found, "supported")


class BaseInstrumentor(ABC):
    """Base of every Axonize plugin's instrumentor (one instance per class)."""

    #: Plugin name, as in ``AXONIZE_PLUGINS`` and ``axonize-instrument --list``.
    name: ClassVar[str] = ""
    #: The module whose import triggers patching (``"transformers.generation.utils"``).
    hook_module: ClassVar[str] = ""

    _instances: ClassVar[dict[type, BaseInstrumentor]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseInstrumentor:
        with cls._lock:
            inst = cls._instances.get(cls)
            if inst is None:
                inst = object.__new__(cls)
                inst._is_instrumented = False
                inst._hook_registered = False
                inst._kwargs = {}
                inst._armed = False
                cls._instances[cls] = inst
            return inst

    _is_instrumented: bool
    _hook_registered: bool
    _kwargs: dict[str, Any]
    _armed: bool  # patch when the hook module is imported

    @abstractmethod
    def instrumentation_dependencies(self) -> Collection[str]:
        """Requirement strings of the framework versions this plugin supports."""

    def dependency_status(self) -> DependencyStatus:
        return check_requirements(self.instrumentation_dependencies())

    @abstractmethod
    def _instrument(self, **kwargs: Any) -> None:
        """Apply every patch (the framework module is imported)."""

    @abstractmethod
    def _uninstrument(self, **kwargs: Any) -> None:
        """Reverse every patch."""

    @property
    def is_instrumented(self) -> bool:
        return self._is_instrumented

    def instrument(self, **kwargs: Any) -> bool:
        """Patch now if the framework is imported, else as soon as it is.

        Returns False (and logs why at debug level) if the framework is missing or of an
        unsupported version.  ``opentelemetry-instrument``'s ``skip_dep_check`` is accepted and
        ignored: the version check is cheap and is what keeps an unknown version untouched.
        """
        kwargs.pop("skip_dep_check", None)
        kwargs.pop("raise_exception_on_conflict", None)
        if self._is_instrumented:
            return True
        status = self.dependency_status()
        if not status.ok:
            logger.debug("axonize: plugin %s not activated: %s", self.name, status.reason)
            return False
        _ensure_initialized()
        self._kwargs = kwargs
        self._armed = True
        if self.hook_module and self.hook_module not in sys.modules:
            if not self._hook_registered:
                wrapt.register_post_import_hook(self._on_import, self.hook_module)
                self._hook_registered = True
            return True
        return self._patch()

    def _on_import(self, module: Any) -> None:
        if self._armed and not self._is_instrumented:
            self._patch()

    def _patch(self) -> bool:
        try:
            self._instrument(**self._kwargs)
        except Exception as exc:
            logger.warning("axonize: plugin %s could not patch its framework (%s: %s); "
                           "the framework is left as it was", self.name, type(exc).__name__, exc)
            debug_once(f"patch-{self.name}", "axonize: plugin %s patch failure", self.name,
                       exc_info=True)
            try:
                self._uninstrument()
            except Exception:
                pass
            return False
        self._is_instrumented = True
        return True

    def uninstrument(self, **kwargs: Any) -> None:
        """Reverse every patch (a later ``import`` of the framework no longer patches it)."""
        self._kwargs = {}
        self._armed = False
        if self._is_instrumented:
            try:
                self._uninstrument(**kwargs)
            finally:
                self._is_instrumented = False


def unwrap(owner: Any, attribute: str) -> None:
    """Undo ``wrapt.wrap_function_wrapper(owner, attribute, ...)``."""
    current = owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(
        owner, attribute, None)
    # (wrapt 2's FunctionWrapper is no subclass of wrapt.ObjectProxy: test for it by name.)
    if isinstance(current, wrapt.FunctionWrapper) and hasattr(current, "__wrapped__"):
        setattr(owner, attribute, current.__wrapped__)


def _ensure_initialized() -> None:
    """A plugin loaded by ``opentelemetry-instrument`` starts Axonize from the environment."""
    if configured() is None:
        from axonize_core._runtime import init

        try:
            init()
        except Exception as exc:  # bad keyword arguments cannot happen here; be safe
            logger.warning("axonize: could not start: %s", exc)


def capture_content(text: Any) -> str | None:
    """``text`` truncated to ``max_content_length`` when content capture is on, else None."""
    cfg = configured()
    if cfg is None or not cfg.capture_content or text is None:
        return None
    s = text if isinstance(text, str) else str(text)
    limit = cfg.max_content_length
    return s if len(s) <= limit else s[:limit] + "…"


def content_capture_enabled() -> bool:
    cfg = configured()
    return bool(cfg is not None and cfg.capture_content)


def capture_steps_enabled() -> bool:
    """Whether the user asked for one span event per step (``AXONIZE_CAPTURE_STEPS=true``)."""
    cfg = configured()
    return bool(cfg is not None and getattr(cfg, "capture_steps", False))


def now_ns() -> int:
    """The SDK's clock (``time.time_ns`` unless a test made it deterministic): use it for any
    time a plugin computes a figure from, so that its figures agree with the span's own."""
    return _span._time_ns()


def is_tracing() -> bool:
    """Whether spans record now: check it first, and call the framework untouched if not."""
    return RECORDING.on


def log_internal_error(key: str, message: str, *args: object) -> None:
    """Report a failure of the plugin's own code: once per ``key``, at debug level, with the
    exception being handled.  Call it from an ``except`` block, then carry on as if the plugin
    were not there.  ``AXONIZE_DEBUG=1`` shows it; ``AXONIZE_STRICT=1`` (tests) re-raises it."""
    debug_once(key, message, *args, exc_info=True)


class InstrumentationScope:
    """A plugin's instrumentation scope: the OTLP ``InstrumentationScope`` its spans carry.

    ``SCOPE = InstrumentationScope("axonize_transformers", __version__)`` once per plugin; then
    ``SCOPE.LlmSpan(...)`` is :class:`~axonize_core.LlmSpan` exported under that scope (a
    subclass fixed at import: creating one costs nothing more than a plain ``LlmSpan``).
    """

    __slots__ = ("LlmSpan", "name", "version")

    def __init__(self, name: str, version: str) -> None:
        if not name:
            raise ValueError("an instrumentation scope needs a name")
        self.name = name
        self.version = version
        scope = (name, version)
        self.LlmSpan = cast("type[LlmSpan]", type(
            f"LlmSpan[{name}]", (LlmSpan,), {"__slots__": (), "scope": scope,
                                            "__module__": LlmSpan.__module__}))

    def __repr__(self) -> str:
        return f"InstrumentationScope({self.name!r}, {self.version!r})"


__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseInstrumentor",
    "DependencyStatus",
    "InstrumentationScope",
    "LlmSpan",
    "Span",
    "SpanKind",
    "SpanStatus",
    "TraceContext",
    "add_export_hook",
    "attach",
    "capture_content",
    "capture_steps_enabled",
    "check_requirements",
    "content_capture_enabled",
    "context",
    "emit_span",
    "is_tracing",
    "log_internal_error",
    "meter_async_stream",
    "meter_stream",
    "now_ns",
    "remove_export_hook",
    "semconv",
    "unwrap",
]
