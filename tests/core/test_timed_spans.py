"""``emit_span``: spans recorded after the fact with an engine's own start and end times; and
``gen_ai.server.request.duration`` for LLM spans of kind SERVER (a request an engine served)."""

from __future__ import annotations

import pytest

import axonize
from axonize.testing import Capture
from axonize_core.instrumentation import InstrumentationScope, Span, SpanKind, emit_span

SCOPE = InstrumentationScope("axonize_test_engine", "1.0")


def test_a_span_gets_the_times_it_is_given_under_its_parent(axonize_capture: Capture) -> None:
    with axonize.span("call"):
        request = SCOPE.LlmSpan(None, "m", kind=SpanKind.SERVER)
        request.set_first_token_time(1_500_000_000)
        request.set_tokens_output(3)
        assert emit_span(request, 1_200_000_000, 1_900_000_000)
        assert emit_span(Span("phase"), 1_300_000_000, 1_400_000_000, parent=request)
    call_d, request_d, phase_d = axonize_capture.spans_as_dicts()
    assert (request_d["parent_span_id"], phase_d["parent_span_id"]) == (
        call_d["span_id"], request_d["span_id"])
    assert (request_d["start_time"], request_d["end_time"]) == (1_200_000_000, 1_900_000_000)
    assert (phase_d["start_time"], phase_d["end_time"]) == (1_300_000_000, 1_400_000_000)
    a = request_d["attributes"]
    assert a["ai.llm.ttft_ms"] == 300.0 and a["ai.llm.tpot_ms"] == 200.0  # (1.9 - 1.5) s / 2
    assert request_d["kind"] == "SERVER"


def test_an_end_before_the_start_is_clamped_and_an_error_marks_it(
        axonize_capture: Capture) -> None:
    assert emit_span(Span("backwards"), 2_000_000_000, 1_000_000_000,
                     exc=ValueError("engine failed"))
    (span,) = axonize_capture.spans_as_dicts()
    assert span["start_time"] == span["end_time"] == 2_000_000_000
    assert span["status"] == {"code": "ERROR", "message": "ValueError: engine failed"}
    assert span["attributes"]["error.type"] == "ValueError"


def test_nothing_is_recorded_when_not_tracing_or_under_an_unsampled_parent() -> None:
    assert not emit_span(Span("before init"), 1, 2)
    parent = Span("never started")
    parent.sampled = False
    assert not emit_span(Span("child"), 1, 2, parent=parent)


@pytest.mark.axonize_capture(deterministic=False)
def test_server_spans_feed_the_server_request_duration(axonize_capture: Capture) -> None:
    served = SCOPE.LlmSpan(None, "served", kind=SpanKind.SERVER,
                           attributes={"ai.server.queue_ms": 40.0})
    emit_span(served, 1_000_000_000, 1_250_000_000)
    with SCOPE.LlmSpan(None, "in-process") as s:  # INTERNAL: not a served request
        s.record_token(2)
    metrics = axonize_capture.metrics()
    (point,) = metrics["gen_ai.server.request.duration"]
    assert point["attributes"]["gen_ai.request.model"] == "served"
    assert point["count"] == 1 and point["sum"] == pytest.approx(0.25)
    assert len(metrics["gen_ai.client.operation.duration"]) == 2
    (queue,) = metrics["ai.server.queue_time"]  # the served request's wait, in s
    assert queue["count"] == 1 and queue["sum"] == pytest.approx(0.04)
