"""The relay end to end between real OTLP endpoints on loopback: senders -> axonize-collector
-> a gRPC or HTTP sink; malformed input; a full queue; a processor that raises."""

from __future__ import annotations

import gzip
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from axonize_collector import CostProcessor, RedactionProcessor
from axonize_collector.config import Exporter, Settings
from axonize_collector.pipeline import Pipeline, Processor
from axonize_collector.relay.app import Relay
from axonize_collector.relay.receive import start_grpc, start_http
from axonize_testsupport.otlp_sink import GrpcSink, HttpSink, attrs
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

PB = "application/x-protobuf"
#: The processors in the relay's own process, and in two worker processes.
WORKERS = pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "2-workers"])


def eventually(read: Any, done: Any, timeout: float = 10.0) -> Any:
    """``read()`` once ``done`` holds for it (or the last reading after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


class Running:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        relay.start()
        self.grpc, self.grpc_port = start_grpc(relay, "127.0.0.1", 0)
        self.http, self.http_port = start_http(relay, "127.0.0.1", 0)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self.export = self.channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
            response_deserializer=ts.ExportTraceServiceResponse.FromString)

    def post(self, body: bytes, content_type: str = PB,
             headers: dict[str, str] | None = None, path: str = "/v1/traces",
             method: str = "POST") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            conn.request(method, path, body if method == "POST" else None,
                         {"Content-Type": content_type, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.channel.close()
        self.grpc.stop(None).wait()
        self.http.shutdown()
        self.http.server_close()
        self.relay.stop()


@pytest.fixture
def run_relay(tmp_path) -> Iterator[Any]:
    started: list[Running] = []

    def start(*urls: str, pipeline: Pipeline | None = None, **kw: Any) -> Running:
        given = {"queue_dir": str(tmp_path / "queue"), "retry_initial_s": 0.05,
                 "retry_max_s": 0.2, **kw}
        s = Settings(exporters=[Exporter(u, timeout_s=2.0) for u in urls], **given)
        r = Running(Relay(s, pipeline))
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@WORKERS
def test_grpc_and_http_in_json_and_protobuf_arrive_priced_and_masked_at_both_sinks(
        run_relay, otel_request, genai, workers: int) -> None:
    grpc_sink, http_sink = GrpcSink(), HttpSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{grpc_sink.port}", http_sink.endpoint,
                          workers=workers)
        assert relay.relay.workers == workers
        secret = {**genai, "http.request.header.authorization": "Bearer abcdefgh12345678"}
        relay.export(otel_request([{"name": "via-grpc", "attributes": secret}]), timeout=10)
        status, _ = relay.post(otel_request([{"name": "via-http", "attributes": genai}])
                               .SerializeToString())
        assert status == 200
        doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "via-json", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "o3"}},
                           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}}],
        }]}]}]}
        gz = gzip.compress(json.dumps(doc).encode())
        status, body = relay.post(gz, "application/json", {"Content-Encoding": "gzip"})
        assert (status, body) == (200, b"{}")
        for sink in (grpc_sink, http_sink):
            spans = {s.name: attrs(s.attributes) for s in sink.wait_for_spans(3)}
            assert sorted(spans) == ["via-grpc", "via-http", "via-json"]
            assert spans["via-grpc"]["http.request.header.authorization"] == (
                "Bearer [REDACTED:bearer_token]")
            assert spans["via-http"]["cost.total_usd"] > 0
            assert spans["via-json"]["cost.tokens_usd"] == pytest.approx(2.0 / 1000)
        counters = eventually(relay.relay.stats.snapshot, lambda c: c["forwarded"] == 6)
        assert counters["received"] == 3 and counters["masked"] == 1
        assert counters["forwarded"] == 6  # 3 spans to each of the two destinations
    finally:
        grpc_sink.stop()
        http_sink.stop()


@WORKERS
def test_malformed_input_is_refused_with_a_reason_while_good_neighbours_pass(
        run_relay, otel_request, genai, workers: int) -> None:
    sink = GrpcSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{sink.port}", workers=workers)
        status, body = relay.post(b"\xff\x00garbage")
        assert status == 400 and b"not an ExportTraceServiceRequest" in body
        status, body = relay.post(b'{"resourceSpans": [{"scopeSpans": [{"spans": '
                                  b'[{"spanId": "zz"}]}]}]}', "application/json")
        assert status == 400 and json.loads(body)["message"] == "spanId 'zz' is not hex"
        assert relay.post(b"{}", "text/plain")[0] == 415
        with pytest.raises(grpc.RpcError) as err:
            relay.channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export")(
                b"\xff\x00garbage", timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        req = otel_request([{"name": "good-1", "attributes": genai}, {"name": "bad"},
                            {"name": "good-2"}])
        req.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01\x02\x03"
        reply = relay.export(req, timeout=10)
        assert reply.partial_success.rejected_spans == 1
        assert "span 'bad' has an invalid trace or span id" in (
            reply.partial_success.error_message)
        assert sorted(s.name for s in sink.wait_for_spans(2)) == ["good-1", "good-2"]
        assert relay.relay.stats.snapshot()["rejected"] == 1 + 3  # 1 span, 3 requests
    finally:
        sink.stop()


class Raises(Processor):
    name = "raises"

    def process(self, span: Any, resource: Any, counts: Any) -> None:
        span.name = "half-changed"
        raise RuntimeError("processor bug")


def test_a_raising_processor_does_not_lose_the_span(run_relay, otel_request, genai) -> None:
    sink = GrpcSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{sink.port}",
                          pipeline=Pipeline([Raises(), CostProcessor(), RedactionProcessor()]))
        relay.export(otel_request([{"name": "kept", "attributes": genai}]), timeout=10)
        (span,) = sink.wait_for_spans(1)
        assert span.name == "kept" and attrs(span.attributes)["cost.total_usd"] > 0
        status, text = relay.post(b"", path="/metrics", method="GET")
        assert status == 200
        assert b"axonize_collector_failed_spans_total 1" in text
        assert b'axonize_collector_processor_failures_total{processor="raises"} 1' in text
    finally:
        sink.stop()


def test_a_full_queue_refuses_with_retry_later_and_keeps_what_it_took(
        run_relay, otel_request, genai, free_port_factory) -> None:
    down = free_port_factory()
    relay = run_relay(f"grpc://127.0.0.1:{down}", queue_max_bytes=4096)
    one = otel_request([{"attributes": genai} for _ in range(5)])
    assert relay.post(b"", path="/readyz", method="GET")[0] == 200
    taken = 0
    with pytest.raises(grpc.RpcError) as err:
        for _ in range(100):
            relay.export(one, timeout=10)
            taken += 5
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "full" in err.value.details()
    assert 0 < taken == relay.relay.queued_spans()
    status, body = relay.post(b"", path="/healthz", method="GET")
    health = json.loads(body)
    assert status == 200 and health["queued_spans"] == taken
    assert relay.post(b"", path="/health", method="GET")[0] == 200
    for path in ("/readyz", "/ready"):  # not ready while it cannot take more
        status, body = relay.post(b"", path=path, method="GET")
        assert status == 503 and json.loads(body)["full_queues"], body


def test_a_destination_that_fails_for_a_while_gets_everything_and_a_refusal_does_not_block(
        run_relay, otel_request, genai) -> None:
    sink = HttpSink()
    try:
        sink.fail_next = [503, 503, 400]  # two passing failures, then a refusal for good
        relay = run_relay(sink.endpoint)
        relay.export(otel_request([{"name": "first", "attributes": genai}]), timeout=10)
        eventually(relay.relay.stats.snapshot, lambda c: c["refused"] == 1)
        assert sink.spans() == []  # refused for good after two retries
        relay.export(otel_request([{"name": "second", "attributes": genai}]), timeout=10)
        assert [s.name for s in sink.wait_for_spans(1)] == ["second"]
        counters = eventually(relay.relay.stats.snapshot, lambda c: c["forwarded"] == 1)
        assert counters["refused"] == 1 and counters["retries"] == 2
    finally:
        sink.stop()


def test_bodies_over_the_limit_are_refused_before_and_after_inflating(
        run_relay, otel_request) -> None:
    relay = run_relay(f"grpc://127.0.0.1:{1}", max_request_bytes=4096)
    status, body = relay.post(b"\0" * 5000)
    assert status == 413 and b"over 4096 bytes" in body
    bomb = gzip.compress(b"\0" * 100_000)  # small on the wire, large inflated
    status, body = relay.post(bomb, headers={"Content-Encoding": "gzip"})
    assert status == 400 and b"decompressed body over 4096 bytes" in body
    status, body = relay.post(b"abc", headers={"Content-Encoding": "br"})
    assert status == 400 and b"content-encoding 'br'" in body
    assert relay.relay.queued_spans() == 0


def test_policy_violations_go_to_their_own_endpoint(run_relay, otel_request, genai) -> None:
    main, quarantine = GrpcSink(), GrpcSink()
    try:
        relay = run_relay(
            f"grpc://127.0.0.1:{main.port}",
            routes={"policy": Exporter(f"grpc://127.0.0.1:{quarantine.port}")},
            processors={"policy": {"deny_models": ["gpt-4o-mini*"], "action": "route"}})
        relay.export(otel_request([{"name": "denied", "attributes": genai},
                                   {"name": "fine", "attributes": {"http.route": "/"}}]),
                     timeout=10)
        assert [s.name for s in main.wait_for_spans(1)] == ["fine"]
        (routed,) = quarantine.wait_for_spans(1)
        assert routed.name == "denied"
        assert attrs(routed.attributes)["policy.violations"] == ["deny_models"]
        assert attrs(routed.attributes)["cost.total_usd"] > 0  # processed like the rest
    finally:
        main.stop()
        quarantine.stop()


def test_sampling_keeps_a_failed_trace_whole_across_requests(run_relay, trace_request) -> None:
    sink = GrpcSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{sink.port}",
                          processors={"sample": {"ratio": 0.0, "decision_wait_s": 60}})
        # An exporter's first batch: trace 1's children and a trace that never fails.
        relay.export(trace_request([(1, "retrieve", False), (2, "healthy", False),
                                    (1, "generate", False)]), timeout=10)
        relay.export(trace_request([(1, "request", True)]), timeout=10)  # its failed root
        got = sink.wait_for_spans(3)
        assert sorted(s.name for s in got) == ["generate", "request", "retrieve"]
        assert len({bytes(s.trace_id) for s in got}) == 1
    finally:
        sink.stop()


def test_spans_after_a_refused_neighbour_are_still_priced_and_masked(
        run_relay, otel_request, genai) -> None:
    sink = GrpcSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{sink.port}")
        req = otel_request([{"name": "bad", "attributes": genai},
                            {"name": "plain", "attributes": {"http.route": "/"}},
                            {"name": "secret", "attributes": {
                                **genai, "note": "Bearer abcdefgh12345678"}}])
        req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"short"
        assert relay.export(req, timeout=10).partial_success.rejected_spans == 1
        spans = {s.name: attrs(s.attributes) for s in sink.wait_for_spans(2)}
        assert "cost.total_usd" not in spans["plain"]
        assert spans["secret"]["note"] == "Bearer [REDACTED:bearer_token]"
        assert spans["secret"]["cost.total_usd"] > 0
    finally:
        sink.stop()


def test_a_refused_batch_is_split_and_only_the_refused_request_is_let_go(
        run_relay, otel_request, genai) -> None:
    sink = HttpSink()
    try:
        sink.fail_next = [503, 400, 400]  # down; then the batch of two, then the first alone
        relay = run_relay(sink.endpoint, retry_initial_s=1.0, retry_max_s=1.0)
        relay.export(otel_request([{"name": "first", "attributes": genai}]), timeout=10)
        eventually(relay.relay.stats.snapshot, lambda c: c["retries"] == 1)
        relay.export(otel_request([{"name": "second", "attributes": genai}]), timeout=10)
        assert [s.name for s in sink.wait_for_spans(1)] == ["second"]
        counters = eventually(relay.relay.stats.snapshot, lambda c: c["forwarded"] == 1)
        assert counters["refused"] == 1 and sink.attempts == 4
    finally:
        sink.stop()


def test_workers_forward_exactly_what_the_relays_own_process_does(
        run_relay, otel_request, genai) -> None:
    """The same requests (512 GenAI spans made by the OTel SDK, every 64th with a bearer token)
    through the processors in process and in two workers: byte for byte the same spans
    arrive, counted the same."""
    bodies = [otel_request([{"name": f"chat {k}-{i}", "attributes": {
        **genai, "http.request.header.x-request-id":
            "Bearer abcdefgh12345678" if i % 64 == 0 else f"req-{i:012d}"}}
        for i in range(512)]).SerializeToString() for k in range(3)]
    got: dict[int, list[bytes]] = {}
    counted: dict[int, dict[str, int]] = {}
    for workers in (0, 2):
        sink = GrpcSink()
        try:
            relay = run_relay(f"grpc://127.0.0.1:{sink.port}", workers=workers,
                              queue_dir=f"{workers}-queue")
            call = relay.channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            for body in bodies:
                call(body, timeout=30)
            spans = sink.wait_for_spans(3 * 512, timeout=60)
            got[workers] = sorted(s.SerializeToString() for s in spans)
            counted[workers] = eventually(relay.relay.stats.snapshot,
                                          lambda c: c["forwarded"] == 3 * 512)
        finally:
            sink.stop()
    assert len(got[0]) == 3 * 512 and got[0] == got[2]
    assert counted[0] == counted[2]
    assert counted[2]["masked"] == 3 * 8  # every 64th span has a bearer token


@pytest.mark.parametrize("processors", [
    {"budget": {"budgets": [{"name": "teams", "limit_usd": 1.0}]}},
    {"sample": {"ratio": 0.5}}], ids=["budget", "sample"])
def test_a_processor_that_keeps_state_keeps_every_processor_in_the_relays_process(
        run_relay, processors: dict[str, Any]) -> None:
    sink = GrpcSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{sink.port}", workers=2, processors=processors)
        assert relay.relay.workers == 0
    finally:
        sink.stop()


def test_a_worker_that_dies_costs_no_span(run_relay, otel_request, genai,
                                          caplog: pytest.LogCaptureFixture) -> None:
    import os
    import signal

    sink = GrpcSink()
    try:
        relay = run_relay(f"grpc://127.0.0.1:{sink.port}", workers=1)
        relay.export(otel_request([{"name": "before", "attributes": genai}]), timeout=10)
        pool = relay.relay._pool
        assert pool is not None and pool._pool is not None
        for pid in list(pool._pool._processes):  # the worker, killed as the OOM killer would
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        for name in ("after 1", "after 2"):
            relay.export(otel_request([{"name": name, "attributes": genai}]), timeout=10)
        spans = {s.name: attrs(s.attributes) for s in sink.wait_for_spans(3)}
        assert sorted(spans) == ["after 1", "after 2", "before"]
        assert all(a["cost.total_usd"] > 0 for a in spans.values())  # still processed
        assert "processing in the relay's process from now on" in caplog.text
    finally:
        sink.stop()
