"""GenAI names on the side they belong to (conventions v1.41): code that runs the model reports
``gen_ai.server.*``; a client that streams a response over the network reports the client's
chunk metrics, and only with ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``.
Each plugin's spans travel under their own instrumentation scope."""

from __future__ import annotations

import time

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, attrs

import axonize
from axonize_core.instrumentation import InstrumentationScope, SpanKind

SERVER = ("gen_ai.server.time_to_first_token", "gen_ai.server.time_per_output_token")
CLIENT = ("gen_ai.client.operation.time_to_first_chunk",
          "gen_ai.client.operation.time_per_output_chunk")


def _streamed_client_call(chunks: int = 4) -> None:
    with axonize.llm_span(model="m", provider="ollama", operation="chat",
                          kind=SpanKind.CLIENT) as s:
        time.sleep(0.01)
        for _ in range(chunks):
            s.record_token()
            time.sleep(0.002)


def test_a_model_run_in_process_reports_server_metrics(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    with axonize.llm_span(model="m", provider="transformers") as s:
        s.record_token(4)
    assert axonize.flush(5)
    names = set(sink.metrics())
    assert set(SERVER) <= names and names.isdisjoint(CLIENT)


def test_a_client_never_reports_server_metrics(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    _streamed_client_call()
    assert axonize.flush(5)
    names = set(sink.metrics())
    assert "gen_ai.client.operation.duration" in names
    assert names.isdisjoint(SERVER) and names.isdisjoint(CLIENT)  # v1.41 names need the opt-in
    (span,) = sink.spans()
    a = attrs(span.attributes)
    assert a["ai.llm.ttft_ms"] >= 10 and "gen_ai.response.time_to_first_chunk" not in a


def test_the_opt_in_adds_the_client_chunk_metrics_and_attribute(
        sink: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental")
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    _streamed_client_call(chunks=4)
    with axonize.llm_span(model="m", provider="ollama", kind=SpanKind.CLIENT) as s:
        s.set_tokens_output(3)  # not streamed: no chunk figures
    assert axonize.flush(5)
    m = sink.metrics()
    assert set(m).isdisjoint(SERVER)
    (first,) = m[CLIENT[0]].histogram.data_points
    assert first.count == 1 and first.min >= 0.01 and m[CLIENT[0]].unit == "s"
    (per_chunk,) = m[CLIENT[1]].histogram.data_points
    assert per_chunk.count == 3  # one per chunk after the first
    streamed, whole = sink.spans()
    ttfc = attrs(streamed.attributes)["gen_ai.response.time_to_first_chunk"]
    assert ttfc == pytest.approx(attrs(streamed.attributes)["ai.llm.ttft_ms"] / 1000)
    assert "gen_ai.response.time_to_first_chunk" not in attrs(whole.attributes)


def test_each_plugin_scope_is_its_own_scope_spans(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, metrics=False)
    first = InstrumentationScope("axonize_first", "1.0")
    second = InstrumentationScope("axonize_second", "2.0")
    with axonize.span("request"):
        with first.LlmSpan(None, "a"):
            pass
        with second.LlmSpan(None, "b"):
            pass
        with first.LlmSpan(None, "c"):
            pass
    assert axonize.flush(5)
    scopes = {(ss.scope.name, ss.scope.version): sorted(s.name for s in ss.spans)
              for rs in sink.resource_spans() for ss in rs.scope_spans}
    assert scopes == {("axonize", axonize.__version__): ["request"],
                      ("axonize_first", "1.0"): ["text_completion a", "text_completion c"],
                      ("axonize_second", "2.0"): ["text_completion b"]}
    assert len({s.trace_id for s in sink.spans()}) == 1
