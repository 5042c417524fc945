"""The dashboard's copy of the API schema (dashboard/openapi.json, from which its client types
are generated) is the schema the backend serves: changing the API without regenerating fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("litestar")

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_is_the_served_one() -> None:
    spec = importlib.util.spec_from_file_location("openapi_schema", ROOT / "tools" /
                                                  "openapi_schema.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    committed = (ROOT / "dashboard" / "openapi.json").read_text()
    assert tool.schema_text() == committed, (
        "the API changed: run `python tools/openapi_schema.py` and `npm run gen:api` in "
        "dashboard/ (nox -s dashboard checks both)")
