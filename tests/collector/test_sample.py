"""Filter and sample: drop by attribute or name; sampling keeps every error and slow trace."""

from __future__ import annotations

from axonize_collector import MAIN, FilterProcessor, Pipeline, SampleProcessor


def _names(out) -> list[str]:
    req = out.get(MAIN)
    return [] if req is None else [s.name for rs in req.resource_spans
                                   for ss in rs.scope_spans for s in ss.spans]


def test_filter_drops_by_attribute_or_name(otel_request) -> None:
    req = otel_request([{"name": "GET /healthz", "attributes": {"http.route": "/healthz"}},
                        {"name": "chat", "attributes": {"env": "test"}},
                        {"name": "chat", "attributes": {"env": "prod"}},
                        {"name": "ping", "attributes": {}}])
    p = Pipeline([FilterProcessor([{"attribute": "http.route", "matches": "^/health"},
                                   {"attribute": "env", "equals": "test"},
                                   {"span_name": "^ping$"}])])
    out = p.run(req)
    assert _names(out) == ["chat"] and p.counts.dropped == 3


def test_sampling_keeps_errors_and_slow_traces(otel_request) -> None:
    specs = ([{"name": "fast"} for _ in range(200)] + [{"name": "error", "error": True}]
             + [{"name": "slow", "duration_ms": 5000}])
    out = Pipeline([SampleProcessor(0.1, slow_ms=2000)]).run(otel_request(specs))
    names = _names(out)
    assert "error" in names and "slow" in names
    assert 2 <= names.count("fast") <= 50  # about 20 of 200 (random trace ids)
    nothing = Pipeline([SampleProcessor(0.0, keep_errors=False)]).run(otel_request(specs[:5]))
    assert nothing == {}
