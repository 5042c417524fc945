"""Span byte ranges read from the wire format match the decoded message's spans."""

from __future__ import annotations

import pytest
from axonize_collector.wire import span_ranges


def test_each_range_holds_exactly_one_span_in_order(otel_request, genai) -> None:
    req = otel_request([{"name": f"s{i}", "attributes": genai} for i in range(5)])
    extra = req.resource_spans.add()  # a second resource, two scopes
    extra.scope_spans.add().spans.add(name="a", trace_id=b"1" * 16, span_id=b"2" * 8)
    extra.scope_spans.add().spans.add(name="b", trace_id=b"1" * 16, span_id=b"3" * 8)
    body = req.SerializeToString()
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    ranges = span_ranges(body)
    assert [body[a:b] for a, b in ranges] == [s.SerializeToString() for s in spans]
    with pytest.raises(ValueError):
        span_ranges(body[:-3])
