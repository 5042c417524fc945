"""Finding and activating plugins: the launcher's business, not plugin authors'.

Plugins are registered under the entry-point group ``axonize.plugins``
(:data:`axonize_core.instrumentation.ENTRY_POINT_GROUP`).  ``axonize-instrument --list`` shows
what :func:`discover` finds; the bootstrap of an instrumented program calls
:func:`activate_plugins`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axonize_core._log import debug_once
from axonize_core._state import RUNTIME
from axonize_core.instrumentation import ENTRY_POINT_GROUP, BaseInstrumentor


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

    cfg = cfg or RUNTIME.config or load_config()
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
