"""Write axonize-server's OpenAPI schema as JSON (the dashboard's client types come from it).

Usage: ``python tools/openapi_schema.py [OUT]`` (default ``dashboard/openapi.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from axonize_backend.app import openapi_document

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "dashboard" / "openapi.json"


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, 2-space indent)."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT
    out.write_text(schema_text())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
