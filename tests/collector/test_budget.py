"""Budget: running cost per owner per window; spans over budget are marked, the crossing is
logged once, and the totals survive a restart."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from axonize_collector import Budget, BudgetProcessor, Pipeline

from axonize_core.otlp_wire import attributes


def _spend(otel_request, proc: BudgetProcessor, team: str, usd: float) -> dict[str, Any]:
    req = otel_request([{"attributes": {"owner.team": team, "cost.total_usd": usd}}])
    Pipeline([proc]).run(req)
    return attributes(req.resource_spans[0].scope_spans[0].spans[0].attributes)


def test_spans_over_the_budget_are_marked_and_the_crossing_is_logged_once(
        otel_request, tmp_path, caplog) -> None:
    clock = [86_400.0 * 1000 + 10]
    budgets = [Budget("per-team", 1.0, ("team",), "day")]
    proc = BudgetProcessor(budgets, str(tmp_path / "budget.json"), clock=lambda: clock[0])
    caplog.set_level(logging.WARNING, "axonize.collector.budget")
    first = _spend(otel_request, proc, "search", 0.6)
    assert first["cost.budget.spent_usd"] == pytest.approx(0.6)
    assert first["cost.budget.exceeded"] is False
    assert _spend(otel_request, proc, "ads", 0.9)["cost.budget.exceeded"] is False  # own total
    over = _spend(otel_request, proc, "search", 0.6)
    assert over["cost.budget.exceeded"] is True and over["cost.budget.limit_usd"] == 1.0
    assert over["cost.budget.name"] == "per-team"
    _spend(otel_request, proc, "search", 0.1)
    crossings = [r for r in caplog.records if "exceeded" in r.getMessage()]
    assert len(crossings) == 1 and "search" in crossings[0].getMessage()
    proc.close()

    # A restart in the same window keeps counting; the next window starts from zero.
    again = BudgetProcessor(budgets, str(tmp_path / "budget.json"), clock=lambda: clock[0])
    assert _spend(otel_request, again, "search", 0.1)["cost.budget.spent_usd"] == (
        pytest.approx(1.4))
    assert len([r for r in caplog.records if "exceeded" in r.getMessage()]) == 1
    clock[0] += 86_400
    assert _spend(otel_request, again, "search", 0.1)["cost.budget.exceeded"] is False


def test_a_budget_can_be_limited_to_some_owners(otel_request) -> None:
    proc = BudgetProcessor([Budget("acme", 0.5, ("customer_id",), "hour",
                                   {"customer_id": "acme"})])
    req = otel_request([{"attributes": {"owner.customer_id": "other", "cost.total_usd": 1.0}}])
    Pipeline([proc]).run(req)
    assert "cost.budget.name" not in attributes(
        req.resource_spans[0].scope_spans[0].spans[0].attributes)


def test_a_bad_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        Budget("x", 1.0, window="fortnight")
