"""``axonize.owner``: owner fields carried as OTel baggage, nested blocks keep outer fields,
and a sender's BaggageSpanProcessor-style copy puts them on spans the collector attributes."""

from __future__ import annotations

from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator

import axonize
from axonize_core.owner import owner_attributes


def test_owner_fields_are_baggage_and_nest() -> None:
    with axonize.owner(team="search", customer_id="c-42"):
        with axonize.owner(feature="autocomplete"):
            assert owner_attributes() == {"owner.team": "search",
                                          "owner.customer_id": "c-42",
                                          "owner.feature": "autocomplete"}
            headers: dict[str, str] = {}
            W3CBaggagePropagator().inject(headers)  # what crosses to the next service
        assert owner_attributes() == {"owner.team": "search", "owner.customer_id": "c-42"}
    assert owner_attributes() == {}
    assert baggage.get_all() == {}
    received = W3CBaggagePropagator().extract(headers)
    assert baggage.get_all(received)["owner.customer_id"] == "c-42"
