"""Test what your instrumented code exports (docs/testing.md).

A pytest plugin: enable it with ``-p axonize.testing`` or, in your top ``conftest.py``,
``pytest_plugins = ["axonize.testing"]``.  It gives

* the ``axonize_capture`` fixture: Axonize initialized with an in-memory exporter for the test
  (deterministic ids and clock), a :class:`Capture` to read what was exported;
* the ``axonize_capture(deterministic=..., **init_settings)`` marker to configure it;
* with ``AXONIZE_STRICT=1``: a test fails when Axonize swallowed an error during it, unless it is
  marked ``axonize_lenient``.

Outside fixtures (unittest, scripts), :func:`capture` does the same as a context manager (the
module needs pytest installed all the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from axonize_core._testing import (
    ANY_NUMBER,
    CLOCK_START_NS,
    CLOCK_STEP_NS,
    Capture,
    InMemoryExporter,
    capture,
    deterministic_ids_and_clock,
    is_span_dicts,
    lenient,
    span_diff,
    strict_errors,
)

__all__ = [
    "ANY_NUMBER",
    "CLOCK_START_NS",
    "CLOCK_STEP_NS",
    "Capture",
    "InMemoryExporter",
    "axonize_capture",
    "capture",
    "deterministic_ids_and_clock",
    "lenient",
    "strict_errors",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "axonize_capture(deterministic=True, **settings): options of the "
        "axonize_capture fixture (settings go to axonize.init)")
    config.addinivalue_line(
        "markers", "axonize_lenient: the test breaks Axonize on purpose; AXONIZE_STRICT is "
        "off for it")


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any,
                              right: Any) -> list[str] | None:
    """``spans_as_dicts() == [...]`` failing: a diff of what differs, whatever the key order."""
    if op == "==" and is_span_dicts(left) and is_span_dicts(right):
        return span_diff(left, right)
    return None


@pytest.fixture
def axonize_capture(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """Axonize exporting into memory for this test; ``.spans_as_dicts()`` reads it."""
    marker = request.node.get_closest_marker("axonize_capture")
    options = dict(marker.kwargs) if marker is not None else {}
    with capture(**options) as cap:
        yield cap


@pytest.fixture(autouse=True)
def _axonize_strict(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if Axonize swallowed an error during it (only with AXONIZE_STRICT=1)."""
    if request.node.get_closest_marker("axonize_lenient") is None:
        yield
    else:
        with lenient():
            yield
    errors = strict_errors()
    if errors:
        pytest.fail(f"AXONIZE_STRICT: Axonize swallowed {len(errors)} error(s) during the "
                    "test (mark it axonize_lenient if that is the point):\n"
                    + "\n".join(errors), pytrace=False)
