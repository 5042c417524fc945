"""The collector's configuration: one YAML or TOML file, a few environment switches, defaults.

Everything is optional; with nothing at all the relay listens on 4317 (gRPC) and 4318 (HTTP)
of 127.0.0.1, prices and masks secrets, and needs only a destination (``--to``).  The file's
sections are ``receivers``, ``exporters``, ``routes``, ``queue``, ``processors`` (one
sub-section per processor) and ``processing`` (``workers``); see docs/collector.md for every
key.  Environment switches:
``AXONIZE_COLLECTOR_PII=1`` (mask personal data), ``AXONIZE_COLLECTOR_DROP_CONTENT=1`` (remove
prompts and completions), ``AXONIZE_COLLECTOR_COST=0`` and ``AXONIZE_COLLECTOR_REDACT=0`` (turn
those off), ``AXONIZE_PRICE_FILE`` (the SDK's price file).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axonize_collector.budget import Budget, BudgetProcessor
from axonize_collector.cost import CostProcessor
from axonize_collector.governance import GovernanceProcessor
from axonize_collector.pipeline import Pipeline, Processor
from axonize_collector.policy import PolicyProcessor
from axonize_collector.redact import RedactionProcessor
from axonize_collector.sample import FilterProcessor, SampleProcessor
from axonize_core.cost import PriceTable

#: The order processors run in, whatever order the file lists them in: drop early, attribute
#: before pricing, price before budgets, check policy on the attributed span, mask last before
#: the sampler (so that copied owner values are masked too).
ORDER = ("filter", "governance", "cost", "budget", "policy", "redaction", "sample")
SECTIONS = ("receivers", "exporters", "routes", "queue", "processors", "processing")


def load_file(path: str) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``) or TOML (``.toml``) file as a dict (errors name the file)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"config {path}: {exc}") from None
    try:
        if p.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ValueError(f"config {path}: YAML needs PyYAML (pip install "
                                 "'axonize[collector]'), or write the file as TOML") from None
            data = yaml.safe_load(text) or {}
        elif p.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            raise ValueError(f"config {path}: name it .yaml, .yml or .toml")
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config {path}: expected a mapping at the top")
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ValueError(f"config {path}: unknown sections {sorted(unknown)}; expected "
                         f"{', '.join(SECTIONS)}")
    return data


@dataclass
class Exporter:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0


@dataclass
class Settings:
    """What the relay runs with."""

    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    max_request_bytes: int = 16 * 2**20
    exporters: list[Exporter] = field(default_factory=list)
    routes: dict[str, Exporter] = field(default_factory=dict)
    queue_dir: str = "axonize-collector-queue"
    queue_max_bytes: int = 256 * 2**20
    retry_initial_s: float = 0.2
    retry_max_s: float = 30.0
    fsync: bool = False
    processors: dict[str, Any] = field(default_factory=dict)
    #: Processes that run the processors when none keeps state across requests (budget,
    #: sample): 0 runs them in the relay's own; None, one per core (at most 4, none on a single
    #: core).  0 when made in code; a config file, --workers and the environment give None
    #: (auto) unless they say otherwise.
    workers: int | None = 0


def settings(data: Mapping[str, Any]) -> Settings:
    """:class:`Settings` from a loaded file (unknown keys are errors that name them)."""
    s = Settings()
    rec = dict(data.get("receivers") or {})
    _known("receivers", rec, ("host", "grpc_port", "http_port", "max_request_bytes"))
    s.host = str(rec.get("host", s.host))
    s.grpc_port = int(rec.get("grpc_port", s.grpc_port))
    s.http_port = int(rec.get("http_port", s.http_port))
    s.max_request_bytes = int(rec.get("max_request_bytes", s.max_request_bytes))
    s.exporters = [_exporter(e) for e in data.get("exporters") or []]
    s.routes = {str(k): _exporter(v) for k, v in (data.get("routes") or {}).items()}
    q = dict(data.get("queue") or {})
    _known("queue", q, ("dir", "max_bytes", "retry_initial_s", "retry_max_s", "fsync"))
    s.queue_dir = str(q.get("dir", s.queue_dir))
    s.queue_max_bytes = int(q.get("max_bytes", s.queue_max_bytes))
    s.retry_initial_s = float(q.get("retry_initial_s", s.retry_initial_s))
    s.retry_max_s = float(q.get("retry_max_s", s.retry_max_s))
    s.fsync = bool(q.get("fsync", s.fsync))
    s.processors = dict(data.get("processors") or {})
    proc = dict(data.get("processing") or {})
    _known("processing", proc, ("workers",))
    s.workers = workers_setting(proc.get("workers", "auto"), "processing: workers")
    unknown = set(s.processors) - set(ORDER)
    if unknown:
        raise ValueError(f"processors: unknown {sorted(unknown)}; choose from {', '.join(ORDER)}")
    return s


def workers_setting(value: Any, what: str) -> int | None:
    """``workers`` as given (``auto``, None, or a count of 0 or more): None for auto."""
    if value is None or value == "auto":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{what}: expected a number (0 or more) or auto, got {value!r}")


def _exporter(e: Any) -> Exporter:
    if isinstance(e, str):
        return Exporter(e)
    e = dict(e)
    _known("exporter", e, ("url", "headers", "timeout_s"))
    if "url" not in e:
        raise ValueError("an exporter needs a url")
    return Exporter(str(e["url"]), {str(k): str(v) for k, v in (e.get("headers") or {}).items()},
                    float(e.get("timeout_s", 10.0)))


def _known(what: str, section: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    unknown = set(section) - set(keys)
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}; expected {', '.join(keys)}")


def _switch(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def build_pipeline(processors: Mapping[str, Any],
                   env: Mapping[str, str] | None = None) -> Pipeline:
    """The processors the configuration turns on, in :data:`ORDER`.  Cost and secret redaction
    are on unless turned off (``enabled: false`` or the environment switches)."""
    env = os.environ if env is None else env
    conf: dict[str, dict[str, Any]] = {k: dict(v or {}) for k, v in processors.items()}
    conf.setdefault("cost", {})
    red = conf.setdefault("redaction", {})
    for section, var in (("cost", "AXONIZE_COLLECTOR_COST"),
                         ("redaction", "AXONIZE_COLLECTOR_REDACT")):
        on = _switch(env, var)
        if on is not None:
            conf[section]["enabled"] = on
    for key, var in (("pii", "AXONIZE_COLLECTOR_PII"),
                     ("drop_content", "AXONIZE_COLLECTOR_DROP_CONTENT")):
        on = _switch(env, var)
        if on is not None:
            red[key] = on
    conf["cost"].setdefault("price_file", env.get("AXONIZE_PRICE_FILE") or None)
    built: list[Processor] = []
    for name in ORDER:
        given = conf.get(name)
        if given is None or not given.pop("enabled", True):
            continue
        try:
            built.append(_BUILDERS[name](given))
        except TypeError as exc:  # an unknown or missing key
            raise ValueError(f"processors.{name}: {exc}") from None
    return Pipeline(built)


def _cost(c: dict[str, Any]) -> Processor:
    hosted = bool(c.pop("hosted_prices", True))
    prices = PriceTable.load(c.pop("price_file", None), c.pop("energy_usd_per_kwh", None),
                             hosted=hosted)
    if c:
        raise TypeError(f"unknown keys {sorted(c)}")
    return CostProcessor(prices)


def _budget(c: dict[str, Any]) -> Processor:
    budgets = []
    for b in c.pop("budgets", []):
        b = dict(b)
        budgets.append(Budget(str(b.pop("name")), float(b.pop("limit_usd")),
                              tuple(b.pop("by", ("team",))), str(b.pop("window", "day")),
                              dict(b.pop("match", {}))))
        if b:
            raise TypeError(f"a budget has unknown keys {sorted(b)}")
    return BudgetProcessor(budgets, **c)


_BUILDERS: dict[str, Any] = {
    "filter": lambda c: FilterProcessor(**c),
    "governance": lambda c: GovernanceProcessor(**c),
    "cost": _cost,
    "budget": _budget,
    "policy": lambda c: PolicyProcessor(**c),
    "redaction": lambda c: RedactionProcessor(**c),
    "sample": lambda c: SampleProcessor(**c),
}
