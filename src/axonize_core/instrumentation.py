"""The plugin API: what a framework plugin builds on.

A plugin is one small package with an instrumentor in the style of opentelemetry-python-contrib:
``instrumentation_dependencies()`` names the supported framework versions, ``_instrument()``
patches (with ``wrapt``) and ``_uninstrument()`` reverses every patch.  It is registered under the
entry-point group ``axonize.plugins`` (and ``opentelemetry_instrumentor``, so that
``opentelemetry-instrument`` loads it too).

Activation is lazy: :meth:`BaseInstrumentor.instrument` checks the installed framework version
and then patches when the framework's module is imported (right away if it already is).  A
plugin that fails to patch logs once, reverses what it did, and leaves the framework untouched.
"""

from __future__ import annotations

import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import wrapt

from axonize_core._log import debug_once, logger
from axonize_core._runtime import configured

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


@dataclass
class PluginInfo:
    """One discovered plugin and whether it will activate."""

    name: str
    entry_point: str
    requirement: str
    installed: str | None
    selected: bool
    will_activate: bool
    reason: str
    instrumentor: type[BaseInstrumentor] | None = None


def _selected(name: str, cfg: Any) -> tuple[bool, str]:
    only = [p.strip() for p in (cfg.plugins or "").split(",") if p.strip()]
    disabled = [p.strip() for p in (cfg.disabled_plugins or "").split(",") if p.strip()]
    if name in disabled or "*" in disabled:
        return False, "disabled by AXONIZE_DISABLED_PLUGINS"
    if only and name not in only:
        return False, "not listed in AXONIZE_PLUGINS"
    return True, ""


def discover(cfg: Any = None) -> list[PluginInfo]:
    """Every plugin registered under ``axonize.plugins``, with whether it will activate."""
    from importlib.metadata import entry_points

    from axonize_core._config import load_config

    cfg = cfg or configured() or load_config()
    out = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        selected, why = _selected(ep.name, cfg)
        try:
            cls = ep.load()
            status = cls().dependency_status()
        except Exception as exc:
            out.append(PluginInfo(ep.name, ep.value, "?", None, selected, False,
                                  f"cannot load the plugin: {type(exc).__name__}: {exc}"))
            continue
        will = selected and status.ok
        out.append(PluginInfo(ep.name, ep.value, status.requirement, status.installed, selected,
                              will, why or status.reason, cls))
    return out


def activate_plugins(cfg: Any = None) -> list[str]:
    """Instrument every selected plugin whose framework is installed; returns their names."""
    active = []
    for info in discover(cfg):
        if info.will_activate and info.instrumentor is not None:
            try:
                if info.instrumentor().instrument():
                    active.append(info.name)
            except Exception:
                debug_once(f"activate-{info.name}", "axonize: plugin %s failed", info.name,
                           exc_info=True)
    return active
