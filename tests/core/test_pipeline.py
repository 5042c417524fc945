"""The export pipeline under real conditions: transports, failures, fork, shutdown, metrics."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import grpc
import pytest
from axonize_testsupport import free_port
from axonize_testsupport.otlp_sink import GrpcSink, HttpSink, attrs

import axonize
from axonize_core._cli import main as cli_main
from axonize_core._otlp.exporters import ConsoleExporter

ROOT = Path(__file__).resolve().parents[2]


def test_otlp_http_with_gzip_and_headers(http_sink: HttpSink) -> None:
    axonize.init(endpoint=http_sink.endpoint, protocol="http/protobuf", api_key="k-123",
                 headers={"X-Tenant": "acme"}, flush_interval_ms=50)
    with axonize.llm_span(model="m") as s:
        s.record_token(3)
    assert axonize.flush(5)
    (span,) = http_sink.wait_for_spans(1)
    assert span.name == "text_completion m"
    trace_headers = http_sink.metadata[0]
    assert trace_headers["authorization"] == "Bearer k-123"
    assert trace_headers["x-tenant"] == "acme"
    assert trace_headers["content-encoding"] == "gzip"
    assert "gen_ai.client.operation.duration" in http_sink.metrics()


def test_grpc_headers_from_the_standard_environment(
        sink: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret%20key,x-team=ml")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=pod-1,team=ml")
    axonize.init(flush_interval_ms=50)
    with axonize.span("x"):
        pass
    assert axonize.flush(5)
    assert sink.metadata[0]["x-api-key"] == "secret key"
    resource = attrs(sink.resource_spans()[0].resource.attributes)
    assert resource["service.name"] == "from-env"
    assert resource["k8s.pod.name"] == "pod-1"


def test_retryable_failures_are_retried_and_delivered_once(sink: GrpcSink) -> None:
    sink.fail_next = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, metrics=False)
    for i in range(3):
        with axonize.span(f"s{i}"):
            pass
    assert axonize.flush(10)
    assert sorted(s.name for s in sink.spans()) == ["s0", "s1", "s2"]
    assert sink.attempts == 3
    assert axonize.stats()["dropped_spans"] == 0


def test_permanent_rejection_is_not_retried_and_counts_as_dropped(sink: GrpcSink) -> None:
    sink.fail_next = [grpc.StatusCode.INVALID_ARGUMENT]
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, metrics=False)
    with axonize.span("rejected"):
        pass
    assert not axonize.flush(5)
    with axonize.span("accepted"):
        pass
    assert axonize.flush(5)
    assert [s.name for s in sink.spans()] == ["accepted"]
    assert sink.attempts == 2
    assert axonize.stats()["dropped_spans"] == 1


def test_dead_endpoint_costs_bounded_memory_and_raises_nothing() -> None:
    port = free_port()  # nothing listens there
    axonize.init(endpoint=f"http://127.0.0.1:{port}", max_queue_size=100, batch_size=50,
                 flush_interval_ms=10_000, max_retry_ms=200)
    for i in range(1000):
        with axonize.llm_span(model="m") as s:
            s.record_token()
            s.set_attribute("i", i)
    stats = axonize.stats()
    assert stats["buffered_spans"] <= 100
    assert stats["dropped_spans"] >= 850
    assert axonize.flush(3) is False  # reported, not raised
    axonize.shutdown(3)
    assert axonize.stats()["buffered_spans"] == 0


def _next_flush_delivers(sink: GrpcSink, timeout: float) -> None:
    """The endpoint answers at once again: a new span's flush answers True, the span arrives."""
    sink.delay_s = 0.0
    with axonize.span("delivered"):
        pass
    assert axonize.flush(timeout)
    assert "delivered" in [s.name for s in sink.wait_for_spans(1)]


def test_slow_endpoint_times_out_and_recovers(sink: GrpcSink) -> None:
    sink.delay_s = 1.0
    axonize.init(endpoint=sink.endpoint, timeout_ms=200, max_retry_ms=300,
                 flush_interval_ms=50, metrics=False)
    with axonize.span("during slowness"):
        pass
    assert axonize.flush(5) is False
    _next_flush_delivers(sink, 5)


def test_a_flush_that_times_out_answers_for_its_own_spans_only(sink: GrpcSink) -> None:
    """The flush's export tries until the flush's deadline; its lost span, whether counted
    before the flush returns or just after, is not charged to the next flush."""
    sink.delay_s = 3.0  # longer than the flush waits; the RPC timeout (10 s) is longer still
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=60_000, metrics=False)
    with axonize.span("lost"):
        pass
    assert axonize.flush(1) is False
    _next_flush_delivers(sink, 5)


@pytest.mark.axonize_lenient  # the lost batch is logged
def test_a_batch_lost_after_a_flush_timed_out_is_not_charged_to_the_next(
        sink: GrpcSink) -> None:
    """A flush that times out while a scheduled export is still trying answers False for that
    batch; when the batch is lost later, the next flush, whose own spans go out, answers True
    (and the first flush's passed deadline does not cut the next one's export short)."""
    sink.delay_s = 5.0
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, timeout_ms=2000,
                 max_retry_ms=2000, metrics=False)
    with axonize.span("lost"):
        pass
    deadline = time.monotonic() + 5
    while sink.attempts == 0:  # the scheduled export is on its way (and will fail at 2 s)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert axonize.flush(0.3) is False
    _next_flush_delivers(sink, 10)
    assert axonize.stats()["dropped_spans"] == 1


def test_shutdown_during_a_flush_returns_in_time(sink: GrpcSink) -> None:
    sink.delay_s = 0.5
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=60_000, timeout_ms=5000,
                 metrics=False)
    for _ in range(10):
        with axonize.span("x"):
            pass
    results: list[bool] = []
    flusher = threading.Thread(target=lambda: results.append(axonize.flush(10)))
    flusher.start()
    time.sleep(0.1)
    axonize.shutdown(timeout=2)
    flusher.join(5)
    assert not flusher.is_alive()
    assert len(results) == 1
    with axonize.span("after shutdown"):
        pass
    assert all(s.name == "x" for s in sink.spans())


def test_burst_of_100k_spans_is_delivered_without_drops(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, metrics=False)  # default buffer and batch size
    for i in range(100_000):
        with axonize.span("burst") as s:
            s.set_attribute("i", i)
    assert axonize.flush(60)
    assert axonize.stats()["dropped_spans"] == 0
    assert len(sink.spans()) == 100_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_pipeline(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, metrics=False)
    with axonize.span("parent before fork"):
        pass
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            with axonize.span("child", {"pid": os.getpid()}):
                pass
            code = 0 if axonize.flush(10) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with axonize.span("parent after fork"):
        pass
    assert axonize.flush(10)
    names = sorted(s.name for s in sink.spans())
    assert names == ["child", "parent after fork", "parent before fork"]
    child = next(s for s in sink.spans() if s.name == "child")
    assert attrs(child.attributes)["pid"] == pid


def test_exit_flushes_without_an_explicit_call(sink: GrpcSink, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import axonize
        axonize.init(service_name="short-lived")
        with axonize.llm_span(model="m") as s:
            s.record_token(2)
        print("done")
    """))
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    assert [s.name for s in sink.wait_for_spans(1)] == ["text_completion m"]


def test_genai_metrics_are_exported_as_histograms(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    for n in (4, 8):
        with axonize.llm_span(model="tiny", provider="transformers") as s:
            s.set_tokens_input(10)
            time.sleep(0.01)
            for _ in range(n):
                s.record_token()
    with pytest.raises(KeyError), axonize.llm_span(model="tiny", provider="transformers"):
        raise KeyError("x")
    assert axonize.flush(5)
    m = sink.metrics()
    duration = m["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    points = {tuple(sorted(attrs(p.attributes).items())): p
              for p in duration.histogram.data_points}
    ok_key = (("gen_ai.operation.name", "text_completion"),
              ("gen_ai.provider.name", "transformers"), ("gen_ai.request.model", "tiny"))
    assert points[ok_key].count == 2
    assert points[tuple(sorted((*ok_key, ("error.type", "KeyError"))))].count == 1
    assert list(duration.histogram.data_points[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    usage = {attrs(p.attributes)["gen_ai.token.type"]: p
             for p in m["gen_ai.client.token.usage"].histogram.data_points}
    assert (usage["input"].sum, usage["input"].count) == (20, 2)
    assert (usage["output"].sum, usage["output"].count) == (12, 2)
    ttft = m["gen_ai.server.time_to_first_token"].histogram.data_points[0]
    assert ttft.count == 2 and ttft.min >= 0.01
    assert m["gen_ai.server.time_per_output_token"].histogram.data_points[0].count == 2
    assert m["ai.llm.tokens_per_second"].histogram.data_points[0].count == 2
    assert m["axonize.spans.dropped"].sum.data_points[0].as_int == 0
    assert m["axonize.spans.dropped"].sum.is_monotonic


def test_file_exporter_writes_otlp_json_lines_and_summary_reads_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out" / "spans.jsonl"
    axonize.init(exporter="file", file_path=str(path), service_name="filesvc")
    with axonize.span("request"), axonize.llm_span(model="tiny") as s:
        s.set_tokens_input(3)
        s.record_token(2)
    axonize.shutdown(5)
    lines = path.read_text().splitlines()
    data = json.loads(lines[0])
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    child = next(s for s in spans if s["name"] == "text_completion tiny")
    parent = next(s for s in spans if s["name"] == "request")
    assert len(child["traceId"]) == 32 and int(child["traceId"], 16)
    assert child["parentSpanId"] == parent["spanId"]
    assert {"key": "ai.llm.tokens.input", "value": {"intValue": "3"}} in child["attributes"]
    metrics_lines = (tmp_path / "out" / "spans.metrics.jsonl").read_text().splitlines()
    assert "gen_ai.client.token.usage" in metrics_lines[-1]
    assert cli_main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 spans in 1 traces" in out
    assert "text_completion tiny" in out and "tiny" in out.splitlines()[-1]


def test_summary_of_a_missing_file_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["summary", "/nonexistent/spans.jsonl"]) == 2
    assert "AXONIZE_EXPORTER=file" in capsys.readouterr().err


def test_console_exporter_prints_readable_lines() -> None:
    stream = io.StringIO()
    axonize.init(exporter=ConsoleExporter(stream), flush_interval_ms=50)
    with axonize.llm_span(model="tiny") as s:
        s.set_tokens_input(3)
        s.record_token(2)
    axonize.flush(5)
    line = stream.getvalue()
    assert line.startswith("[axonize] text_completion tiny")
    assert "in 3" in line and "out 2" in line and "tok/s" in line
