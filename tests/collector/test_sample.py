"""Filter and sample: drop by attribute or name; sampling keeps every error and slow trace."""

from __future__ import annotations

from typing import Any

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


def test_a_trace_whose_error_comes_in_a_later_request_is_kept_whole(trace_request) -> None:
    now = [0.0]
    sampler = SampleProcessor(0.0, decision_wait_s=30, clock=lambda: now[0])
    p = Pipeline([sampler])
    # Trace 1's children end first; its failing root comes in the next request.
    assert p.run(trace_request([(1, "retrieve", False), (2, "other", False),
                                 (1, "generate", False)])) == {}
    now[0] = 10.0
    out = p.run(trace_request([(1, "request", True), (3, "third", False)]))
    got = out[MAIN]
    assert sorted(_names(out)) == ["generate", "request", "retrieve"]
    # The held spans keep their resource and scope.
    for rs in got.resource_spans:
        assert rs.resource.attributes[0].value.string_value == "chat-api"
        assert all(ss.scope.name == "test-app" for ss in rs.scope_spans)
    # A span of the kept trace that comes later still is kept; the others never show up.
    assert _names(p.run(trace_request([(1, "late child", False), (2, "x", False)]))) == [
        "late child"]
    # Held spans count as dropped only once let go: traces 2 and 3 are still held.
    c = p.counts
    assert (c.spans_in, c.spans_out, c.dropped, sampler._held_count) == (7, 4, 0, 3)


def test_held_spans_are_let_go_after_the_wait_and_within_the_bound(trace_request) -> None:
    now = [0.0]
    sampler = SampleProcessor(0.0, decision_wait_s=30, hold_spans=5, clock=lambda: now[0])
    p = Pipeline([sampler])
    p.run(trace_request([(1, "old child", False)]))
    now[0] = 31.0  # trace 1 waited too long
    p.run(trace_request([(t, f"child {t}", False) for t in range(2, 9)]))  # 7 spans, bound 5
    assert sampler._held_count == 5
    out = p.run(trace_request([(1, "root 1", True), (2, "root 2", True), (8, "root 8", True)]))
    # Trace 1's child expired, trace 2's was pushed out by newer ones, trace 8's is released.
    assert sorted(_names(out)) == ["child 8", "root 1", "root 2", "root 8"]
    assert p.counts.dropped == 3  # the expired one and the two pushed out


def test_a_refused_request_sent_again_gives_each_held_span_once(trace_request) -> None:
    p = Pipeline([SampleProcessor(0.0)])

    def children() -> Any:  # the pipeline processes a request in place: decode it each time
        return trace_request([(1, "retrieve", False), (1, "generate", False)])

    def root() -> Any:
        return trace_request([(1, "request", True)])

    p.run(children())
    p.rollback()  # the relay's queue refused it: the sender sends it again
    p.run(children())
    assert sorted(_names(p.run(root()))) == ["generate", "request", "retrieve"]
    p.rollback()  # refused again: what it released is held again
    assert sorted(_names(p.run(root()))) == ["generate", "request", "retrieve"]
    assert _names(p.run(trace_request([(1, "late", False)]))) == ["late"]


def test_held_spans_are_bounded_in_bytes_too(trace_request) -> None:
    sampler = SampleProcessor(0.0, hold_mb=1 / 1024)  # 1 KiB
    Pipeline([sampler]).run(trace_request([(t, "x" * 200, False) for t in range(20)]))
    assert 0 < sampler._held_bytes <= 1024 and sampler._held_count < 20
