"""The figures as a console table, as the README's table between its BENCH markers, and as
JSON (``{"figures": [...], "machine": {...}}``)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Any

from bench.measure import Figure

BEGIN, END = "<!-- BEGIN BENCH -->\n", "<!-- END BENCH -->\n"


def print_table(figures: list[Figure]) -> None:
    header = f"{'figure':<26}{'axonize':>14}{'baseline':>14}{'ratio':>9}  target / baseline"
    print(header)
    print("-" * len(header))
    for f in figures:
        ratio = "" if f.ratio != f.ratio else f"{f.ratio:.1f}x"
        print(f"{f.name:<26}{_fmt(f.axonize, f.unit):>14}{_fmt(f.baseline, f.unit):>14}"
              f"{ratio:>9}  {f.target}; vs {f.baseline_name}")
        if f.note:
            print(f"{'':<26}{'':>14}{'':>14}{'':>9}  ({f.note})")


def write_readme(path: str, figures: list[Figure], keep_others: bool = False) -> None:
    """Replace the table between the BENCH markers of ``path`` with the figures' table; with
    ``keep_others``, replace only the rows of these figures and keep the other rows."""
    rows = {f.name: _row(f) for f in figures}
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN.strip()} ... {END.strip()} markers")
    head, _, rest = text.partition(BEGIN)
    table, _, tail = rest.partition(END)
    lines = [_HEADER, _RULE, *rows.values()]
    if keep_others:
        old = [line for line in table.splitlines() if line.startswith("| `")]
        kept = [rows.pop(_row_name(line), line) for line in old]
        lines = [_HEADER, _RULE, *kept, *rows.values()]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + BEGIN + "\n".join(lines) + "\n" + END + tail)


_HEADER = "| Figure | Axonize | Baseline | Ratio | Target | Baseline is |"
_RULE = "| --- | --- | --- | --- | --- | --- |"


def _row(f: Figure) -> str:
    ratio = "" if f.ratio != f.ratio else f"{f.ratio:.1f}x"
    note = f" ({f.note})" if f.note else ""
    return (f"| `{f.name}` | {_fmt(f.axonize, f.unit)} | {_fmt(f.baseline, f.unit)} | "
            f"{ratio} | {f.target} | {f.baseline_name}{note} |")


def _row_name(line: str) -> str:
    return line.split("`", 2)[1]


def write_json(path: str, figures: list[Figure]) -> None:
    """Each figure's fields (NaN as null) and the machine's CPU count and Python version."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"figures": [_json_safe(asdict(f)) for f in figures],
                   "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}},
                  fh, indent=2)


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}


def _fmt(v: float, unit: str) -> str:
    if v != v:  # no baseline
        return "-"
    if unit == "x":
        return f"{v:.3f}x"
    if unit == "spans/s":
        return f"{v:,.0f}/s"
    if unit == "spans":
        return f"{v:,.0f}"
    if unit == "%":
        return f"{v:.2f} %"
    if unit == "us" and abs(v) < 10:  # overheads near a few-µs target: a whole number hides them
        return f"{v:.1f} {unit}"
    return f"{v:,.0f} {unit}"
