"""Governance: owner attributes from the resource, GenOps names or defaults land on every span;
values the span carries (baggage copied by the sender) win."""

from __future__ import annotations

import pytest
from axonize_collector import GovernanceProcessor, Pipeline

from axonize_core.otlp_wire import attributes


def test_owner_attributes_are_copied_from_the_resource_and_genops_names(otel_request) -> None:
    req = otel_request(
        [{"name": "a", "attributes": {"gen_ai.request.model": "gpt-4o"}},
         {"name": "b", "attributes": {"owner.team": "ads", "genops.customer_id": "c-9"}}],
        resource={"owner.team": "search", "genops.project": "assist",
                  "service.name": "api"})
    Pipeline([GovernanceProcessor(defaults={"environment": "prod"})]).run(req)
    a, b = (attributes(s.attributes) for s in req.resource_spans[0].scope_spans[0].spans)
    assert {k: v for k, v in a.items() if k.startswith("owner.")} == {
        "owner.team": "search", "owner.project": "assist", "owner.environment": "prod"}
    assert {k: v for k, v in b.items() if k.startswith("owner.")} == {
        "owner.team": "ads", "owner.project": "assist", "owner.customer_id": "c-9",
        "owner.environment": "prod"}


def test_unknown_owner_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown owner fields"):
        GovernanceProcessor(defaults={"squad": "x"})
