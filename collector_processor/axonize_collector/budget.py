"""The budget processor: running cost per owner per window against limits.

Each budget names the owner fields it is kept by (``by: [team]``: one running total per team),
an optional ``match`` (only those owners), a window (``hour``, ``day``, ``month`` or a number of
seconds, aligned to the Unix epoch in UTC) and ``limit_usd``.  Every span that has
``cost.total_usd`` adds to the totals of the budgets it falls under and is marked with the
budget's name, limit and spending (``cost.budget.*``); ``cost.budget.exceeded`` is true once the
window's spending is over the limit.  The crossing is logged once per owner and window.  The
totals are written to ``state_file`` (at most every ``save_every_s`` seconds, and on close) and
read back at start, so a restart in the middle of a window keeps counting from where it was.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axonize_collector.pipeline import Counts, Processor, Resource
from axonize_collector.spans import find, put
from axonize_core import semconv as sc
from axonize_core.semconv import OWNER_ATTRIBUTES

log = logging.getLogger("axonize.collector.budget")
WINDOWS = {"hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Budget:
    name: str
    limit_usd: float
    by: tuple[str, ...] = ("team",)
    window: str = "day"  # hour, day, month, or seconds as a string
    match: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = (set(self.by) | set(self.match)) - set(OWNER_ATTRIBUTES)
        if unknown:
            raise ValueError(f"budget {self.name!r}: unknown owner fields {sorted(unknown)}")
        if self.window not in (*WINDOWS, "month") and not self.window.isdigit():
            raise ValueError(f"budget {self.name!r}: window {self.window!r} is not hour, day, "
                             "month or a number of seconds")

    def window_start(self, t: float) -> int:
        if self.window == "month":
            tm = time.gmtime(t)
            return calendar.timegm((tm.tm_year, tm.tm_mon, 1, 0, 0, 0))
        size = WINDOWS.get(self.window) or int(self.window)
        return int(t // size * size)


_KEYS = frozenset((sc.COST_TOTAL_USD, *OWNER_ATTRIBUTES.values()))


class BudgetProcessor(Processor):
    stateful = True
    name = "budget"
    atomic = True

    def __init__(self, budgets: Sequence[Budget], state_file: str | None = None,
                 save_every_s: float = 5.0, clock: Any = time.time) -> None:
        self.budgets = list(budgets)
        self.state_file = Path(state_file) if state_file else None
        self.save_every_s = save_every_s
        self._clock = clock
        self._lock = threading.Lock()
        # "<budget>|<window start>|<owner values>" -> USD spent; and the crossings logged.
        self.spent: dict[str, float] = {}
        self.crossed: set[str] = set()
        self._saved_at = 0.0
        self._dirty = False
        self._load()

    def process(self, span: Any, resource: Resource, counts: Counts) -> None:
        found = find(span.attributes, _KEYS)
        cost = found.get(sc.COST_TOTAL_USD)
        if not isinstance(cost, (int, float)):
            return None
        now = self._clock()
        marks: dict[str, Any] = {}
        with self._lock:
            for b in self.budgets:
                owners = [str(found.get(OWNER_ATTRIBUTES[f], "")) for f in b.by]
                if any(str(found.get(OWNER_ATTRIBUTES[f], "")) != v for f, v in b.match.items()):
                    continue
                key = f"{b.name}|{b.window_start(now)}|{'/'.join(owners)}"
                spent = self.spent[key] = self.spent.get(key, 0.0) + float(cost)
                self._dirty = True
                over = spent > b.limit_usd
                if over and key not in self.crossed:
                    self.crossed.add(key)
                    log.warning("budget %s exceeded for %s: %.6f USD spent of %.6f USD this "
                                "%s", b.name, dict(zip(b.by, owners, strict=True)), spent,
                                b.limit_usd, b.window)
                if not marks or over:  # the first budget, or the one that is exceeded
                    marks = {sc.COST_BUDGET_NAME: b.name, sc.COST_BUDGET_LIMIT_USD: b.limit_usd,
                             sc.COST_BUDGET_SPENT_USD: spent, sc.COST_BUDGET_EXCEEDED: over}
            if self.state_file is not None and now - self._saved_at >= self.save_every_s:
                self._save(now)
        put(span.attributes, marks)
        return None

    # ------------------------------------------------------------------ state
    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            keep = self._current(self._clock())
            self.spent = {k: float(v) for k, v in data.get("spent", {}).items()
                          if k.startswith(keep)}
            self.crossed = {k for k in data.get("crossed", []) if k.startswith(keep)}
        except (OSError, ValueError, AttributeError) as exc:
            log.error("budget state %s unreadable (%s): starting from zero", self.state_file,
                      exc)

    def _current(self, now: float) -> tuple[str, ...]:
        """Key prefixes of the windows open at ``now`` (older totals are let go)."""
        return tuple(f"{b.name}|{b.window_start(now)}|" for b in self.budgets)

    def _save(self, now: float) -> None:
        assert self.state_file is not None
        self._saved_at = now
        if not self._dirty:
            return
        keep = self._current(now)
        self.spent = {k: v for k, v in self.spent.items() if k.startswith(keep)}
        self.crossed = {k for k in self.crossed if k.startswith(keep)}
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"spent": self.spent, "crossed": sorted(self.crossed)}),
                           encoding="utf-8")
            os.replace(tmp, self.state_file)
            self._dirty = False
        except OSError as exc:
            log.error("budget state %s not written: %s", self.state_file, exc)

    def close(self) -> None:
        if self.state_file is not None:
            with self._lock:
                self._save(self._clock())
