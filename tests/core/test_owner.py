"""``axonize.owner``: owner fields carried as OTel baggage, nested blocks keep outer fields,
and Axonize's LLM spans made in a block carry them."""

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


def test_axonize_llm_spans_made_inside_an_owner_block_carry_the_owner(axonize_capture) -> None:
    with axonize.owner(team="search"), axonize.owner(customer_id="c-42"):
        with axonize.llm_span(model="m", attributes={"owner.team": "explicit"}):
            pass
        with axonize.llm_span(model="m"):
            pass
    with axonize.llm_span(model="m"):
        pass
    owners = [{k: v for k, v in s["attributes"].items() if k.startswith("owner.")}
              for s in axonize_capture.spans_as_dicts()]
    assert owners == [{"owner.team": "explicit", "owner.customer_id": "c-42"},
                      {"owner.team": "search", "owner.customer_id": "c-42"}, {}]
