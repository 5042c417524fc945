"""``axonize-server serve`` as a child process, for tests and measurements that kill it.

:class:`ServeProcess` starts it on free loopback ports with an admin key, waits until it is
ready, and makes tenants; :func:`load` sends single-span trace requests from a few
connections and records which were acknowledged; :func:`stored_trace_ids` reads back what a
tenant has.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_testsupport.otlp_fuzz import PB, KeepAliveClient
from axonize_testsupport.ports import free_port
from axonize_testsupport.pressure import rss_of

ADMIN = "fault-admin-key"


class ServeProcess:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.http_port, self.grpc_port = free_port(), free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AXONIZE_")}
        environ.update(AXONIZE_ADMIN_KEY=ADMIN, **env)
        # Output to a file: a pipe nobody reads would stop a server that logs a lot.
        self._log_path = data_dir.parent / f"serve-{self.http_port}.log"
        with open(self._log_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "axonize_backend.cli",
                    "serve",
                    "--data-dir",
                    str(data_dir),
                    "--http-port",
                    str(self.http_port),
                    "--grpc-port",
                    str(self.grpc_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
            )
        self.url = f"http://127.0.0.1:{self.http_port}"

    @property
    def output(self) -> str:
        """What the server printed so far."""
        return self._log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the server did not start:\n{self.output}")
            time.sleep(0.1)

    def wait_loaded(self, timeout: float = 60.0) -> None:
        """Wait until the ingest log is in the span store (``unloaded_bytes`` 0 on ``/readyz``),
        what a previous process left included: until then acknowledged spans can be missing
        from queries."""
        deadline = time.monotonic() + timeout
        left = None
        while time.monotonic() < deadline:
            r = httpx.get(f"{self.url}/readyz", timeout=5)
            left = r.json()["ingest"]["unloaded_bytes"]
            if r.status_code == 200 and left == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"{left} bytes of the ingest log still unloaded after {timeout} s")

    def tenant(self, name: str) -> tuple[str, str]:
        admin = {"authorization": f"Bearer {ADMIN}"}
        r = httpx.post(f"{self.url}/api/v1/admin/tenants", json={"name": name}, headers=admin)
        r.raise_for_status()
        tid = r.json()["id"]
        r = httpx.post(f"{self.url}/api/v1/admin/tenants/{tid}/keys", headers=admin)
        r.raise_for_status()
        return tid, str(r.json()["key"])

    def kill(self) -> None:
        """``kill -9``."""
        if self.proc.poll() is None:
            self.proc.kill()
        self._collect()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            self.kill()
        return int(self.proc.returncode)

    def _collect(self) -> None:
        self.proc.wait(30)

    def rss_bytes(self) -> int:
        return rss_of(self.proc.pid)


def span_request(trace: int, name: str = "load") -> bytes:
    req = ts.ExportTraceServiceRequest()
    now = time.time_ns()
    req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=trace.to_bytes(16, "big"),
        span_id=(trace & (2**64 - 1) or 1).to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1000,
    )
    return req.SerializeToString()


class Load:
    """Threads sending one-span requests until stopped or the server goes; ``acked`` holds the
    trace ids answered 200."""

    def __init__(self, server: ServeProcess, key: str, threads: int = 4, base: int = 0) -> None:
        self.acked: set[int] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(server, key, base + i * 10**9), daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _run(self, server: ServeProcess, key: str, first: int) -> None:
        client = KeepAliveClient("127.0.0.1", server.http_port, timeout=10)
        trace = first
        try:
            while not self._stop.is_set():
                trace += 1
                try:
                    status, body = client.post(
                        "/v1/traces", span_request(trace), {"x-api-key": key, "content-type": PB}
                    )
                except (OSError, EOFError):
                    return  # the server is gone
                if status == 200:
                    with self._lock:
                        self.acked.add(trace)
                elif status != 503:
                    self.errors.append(f"{status} {body[:200]!r}")
        finally:
            client.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def stored_trace_ids(url: str, key: str) -> list[int]:
    """Every trace id the tenant has (the last day), once per trace; a trace holding a span
    twice (stored twice) is listed as many times as it has spans, so duplicates show."""
    ids: list[int] = []
    cursor = None
    with httpx.Client(base_url=url, timeout=60) as client:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            r = client.get(
                "/api/v1/traces", params=params, headers={"authorization": f"Bearer {key}"}
            )
            r.raise_for_status()
            page = r.json()
            for t in page["traces"]:
                ids += [int(t["trace_id"], 16)] * int(t["span_count"])
            cursor = page["next_cursor"]
            if not cursor:
                return ids
