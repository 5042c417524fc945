"""Ordered SQL migrations for both stores, applied once each and recorded.

``migrations/clickhouse/*.sql`` and ``migrations/postgres/*.sql`` run in file-name order; each
store records what it applied in its own ``schema_migrations`` table, so running them again
(``axonize-server migrate``, or every start) applies only what is new.
"""

from __future__ import annotations

from pathlib import Path


def migrations_dir() -> Path:
    """The packaged migrations (in the wheel), else the repository's ``migrations/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "migrations", here.parents[1] / "migrations"):
        if (candidate / "clickhouse").is_dir():
            return candidate
    raise FileNotFoundError("no migrations/ folder next to the backend package")


def ordered(kind: str) -> list[tuple[str, str]]:
    """[(version, sql)] of ``kind`` (``clickhouse`` or ``postgres``), oldest first."""
    folder = migrations_dir() / kind
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.sql"))]


def statements(sql: str) -> list[str]:
    """The statements of a file (split on ``;`` at line ends; comments dropped)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]
