"""The pipeline: a processor that raises on a span leaves it as it was and counts the
failure; the other spans and processors go on."""

from __future__ import annotations

from typing import Any

from axonize_collector import MAIN, CostProcessor, Pipeline, Processor

from axonize_core.otlp_wire import attributes


class HalfDone(Processor):
    """Changes the span, then raises on one of them."""

    name = "half-done"

    def process(self, span: Any, resource: Any, counts: Any) -> None:
        span.attributes.add(key="touched").value.bool_value = True
        span.name = "renamed"
        if attributes(span.attributes).get("poison"):
            raise RuntimeError("bad span")


def test_a_raising_processor_passes_the_span_through_unchanged(otel_request, genai) -> None:
    req = otel_request([{"name": "good", "attributes": genai},
                        {"name": "bad", "attributes": {**genai, "poison": True}}])
    p = Pipeline([HalfDone(), CostProcessor()])
    out = p.run(req)
    good, bad = out[MAIN].resource_spans[0].scope_spans[0].spans
    assert good.name == "renamed" and attributes(good.attributes)["touched"] is True
    assert bad.name == "bad" and "touched" not in attributes(bad.attributes)
    assert "cost.total_usd" in attributes(bad.attributes)  # the next processor still ran
    assert p.counts.failed == 1 and p.counts.failed_by == {"half-done": 1}
    assert p.counts.spans_out == 2
