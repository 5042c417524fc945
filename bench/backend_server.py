"""``axonize-server`` on its embedded stores, in its own process, for the backend figures."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axonize_testsupport import free_port

ADMIN_KEY = "bench-admin"


@dataclass
class Server:
    grpc_port: int
    http: Any  # an httpx.Client on its HTTP port
    key: str  # an API key of the tenant "bench"


@contextlib.contextmanager
def backend_server(data: Path) -> Iterator[Server]:
    """Start ``axonize-server serve`` on ``data``, wait until it is ready, create a tenant and
    a key; stop the server on exit.  Its output goes to ``data``'s sibling ``server.log``,
    quoted if it does not start."""
    import httpx

    grpc_port, http_port = free_port(), free_port()
    env = {**os.environ, "AXONIZE_ADMIN_KEY": ADMIN_KEY}
    log_path = data.parent / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "axonize_backend.cli", "serve", "--data-dir", str(data),
             "--grpc-port", str(grpc_port), "--http-port", str(http_port)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"axonize-server did not start; its output:\n{tail}")
            time.sleep(0.2)
        admin = {"authorization": f"Bearer {ADMIN_KEY}"}
        tid = http.post("/api/v1/admin/tenants", json={"name": "bench"},
                        headers=admin).json()["id"]
        key = http.post(f"/api/v1/admin/tenants/{tid}/keys", headers=admin).json()["key"]
        yield Server(grpc_port, http, key)
    finally:
        server.terminate()
        server.wait(30)


@contextlib.contextmanager
def grpc_sender(srv: Server) -> Iterator[Callable[[bytes], None]]:
    """``send(body)``: export an encoded trace request to ``srv`` over OTLP/gRPC as the tenant
    "bench", retrying (with backoff) while the server answers UNAVAILABLE; thread-safe."""
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}",
                                    options=[("grpc.max_send_message_length", 64 << 20)])
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                 request_serializer=None, response_deserializer=None)
    meta = (("authorization", f"Bearer {srv.key}"),)

    def send(body: bytes) -> None:
        for attempt in range(20):
            try:
                export(body, metadata=meta, timeout=120)
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))

    try:
        yield send
    finally:
        channel.close()
