"""``/metrics`` of axonize-server: what a tenant and the admin see, both formats, promtool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axonize_testsupport.backend_server import ADMIN, BackendServer
from axonize_testsupport.prometheus import gpu_gauges_request, llm_spans_request, promtool
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def server(data_dirs: Callable[[str], Path]) -> Iterator[BackendServer]:
    srv = BackendServer(data_dirs("metrics") / "data", metrics_label_limit=3)
    yield srv
    srv.stop()


def _send(srv: BackendServer, key: str, path: str, body: bytes) -> None:
    r = srv.http.post(path, content=body, headers={**PROTOBUF, "authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text


def _scrape(srv: BackendServer, key: str, accept: str = "") -> tuple[str, str]:
    headers = {"authorization": f"Bearer {key}"}
    if accept:
        headers["accept"] = accept
    r = srv.http.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    return r.text, r.headers["content-type"]


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _find(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> list[float]:
    want = set(labels.items())
    return [v for (n, lab), v in samples.items() if n == name and want <= lab]


def test_tenant_sees_its_genai_and_gpu_series_and_the_admin_sees_all(
        server: BackendServer) -> None:
    tid, key = server.tenant("prom-a")
    other_tid, other_key = server.tenant("prom-b")
    spans: list[dict[str, Any]] = [
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama-tiny",
         "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20,
         "ai.llm.ttft_ms": 30.0, "ai.llm.tpot_ms": 20.0, "cost.total_usd": 0.25,
         "_duration_s": 0.5},
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama-tiny",
         "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 7,
         "ai.llm.ttft_ms": 300.0, "_duration_s": 2.0, "_error": True},
        {"other.attribute": "not an LLM span"},
    ]
    _send(server, key, "/v1/traces", llm_spans_request("svc-a", spans))
    _send(server, other_key, "/v1/traces", llm_spans_request(
        "svc-b", [{"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "emb"}]))
    _send(server, key, "/v1/metrics", gpu_gauges_request(
        "GPU-1", "node-1", {"gpu.utilization": 75.0, "gpu.temperature": 61.0,
                            "gpu.memory.used": 2.0**30, "gpu.power": 300.0,
                            "gpu.energy": 1234.0}))

    text, content_type = _scrape(server, key)
    assert content_type.startswith("text/plain; version=0.0.4")
    s = _samples(text)
    labels = {"tenant": tid, "service": "svc-a", "model": "llama-tiny", "operation": "chat"}
    assert _find(s, "axonize_gen_ai_requests_total", **labels) == [2]
    assert _find(s, "axonize_gen_ai_errors_total", **labels) == [1]
    assert _find(s, "axonize_gen_ai_tokens_total", token_type="input", **labels) == [15]
    assert _find(s, "axonize_gen_ai_tokens_total", token_type="output", **labels) == [27]
    assert _find(s, "axonize_gen_ai_cost_usd_total", **labels) == [0.25]
    ttft = "axonize_gen_ai_time_to_first_token_seconds"
    assert _find(s, f"{ttft}_bucket", le="0.04", **labels) == [1]  # 30 ms
    assert _find(s, f"{ttft}_bucket", le="0.5", **labels) == [2]  # and 300 ms
    assert _find(s, f"{ttft}_sum", **labels) == [pytest.approx(0.33)]
    assert _find(s, "axonize_gen_ai_operation_duration_seconds_count", **labels) == [2]
    assert _find(s, "axonize_gen_ai_time_per_output_token_seconds_count", **labels) == [1]
    gpu = {"tenant": tid, "gpu_uuid": "GPU-1", "node": "node-1"}
    assert _find(s, "axonize_gpu_utilization_ratio", **gpu) == [0.75]
    assert _find(s, "axonize_gpu_temperature_celsius", **gpu) == [61.0]
    assert _find(s, "axonize_gpu_memory_used_bytes", **gpu) == [2.0**30]
    assert _find(s, "axonize_gpu_power_watts", **gpu) == [300.0]
    assert _find(s, "axonize_gpu_energy_joules_total", **gpu) == [1234.0]
    # Nothing of the other tenant, nothing of the server's own.
    assert other_tid not in text and "svc-b" not in text
    assert "axonize_server_" not in text

    admin, _ = _scrape(server, ADMIN)
    a = _samples(admin)
    assert _find(a, "axonize_gen_ai_requests_total", tenant=other_tid, model="emb") == [1]
    assert _find(a, "axonize_gen_ai_requests_total", **labels) == [2]
    assert _find(a, "axonize_server_ingest_spans_total")[0] >= 4
    assert _find(a, "axonize_server_ingest_requests_total", signal="metrics")[0] >= 1
    assert _find(a, "axonize_server_ingest_log_backlog_bytes")
    assert _find(a, "axonize_server_http_request_duration_seconds_count", route="/v1/traces",
                 method="POST", code="200")[0] >= 2


def test_a_scrape_needs_a_valid_key(server: BackendServer) -> None:
    assert server.http.get("/metrics").status_code == 401
    r = server.http.get("/metrics", headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
    admin, _ = _scrape(server, ADMIN)
    assert _find(_samples(admin), "axonize_server_rejected_requests_total",
                 reason="unauthorized", transport="http")[0] >= 2


def test_openmetrics_when_asked_and_promtool_accepts_the_text_format(
        server: BackendServer) -> None:
    _, key = server.tenant("prom-om")
    _send(server, key, "/v1/traces", llm_spans_request(
        "svc", [{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                 "ai.llm.ttft_ms": 5.0, "gen_ai.usage.output_tokens": 3}]))
    text, content_type = _scrape(server, ADMIN, accept="application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["axonize_gen_ai_requests"].type == "counter"
    assert families["axonize_gen_ai_time_to_first_token_seconds"].unit == "seconds"

    plain, _ = _scrape(server, ADMIN)
    checked = promtool("check", "metrics", stdin=plain.encode())
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_health_aliases(server: BackendServer) -> None:
    assert server.http.get("/health").json() == server.http.get("/healthz").json()
    ready = server.http.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_the_view_buckets_are_the_code_buckets() -> None:
    """The materialized view writes its bounds as literals: they must be the code's."""
    from axonize_backend.migrations import ordered
    from axonize_backend.prometheus import HISTOGRAMS

    sql = dict(ordered("clickhouse"))["0005_prometheus_totals"]
    flat = " ".join(sql.split())
    for prefix, bounds in HISTOGRAMS.values():
        literal = "[" + ", ".join(repr(float(b)) for b in bounds) + "]"
        assert literal in flat, (prefix, literal)


def test_label_values_past_the_limit_fold_into_other(server: BackendServer) -> None:
    tid, key = server.tenant("prom-flood")
    for i in range(5):  # one request each: model-0 is seen first, model-4 last
        _send(server, key, "/v1/traces", llm_spans_request("svc", [
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": f"model-{i}",
             "ai.llm.ttft_ms": 10.0}] * (i + 1)))
        server.backend.wait_loaded()
    s = _samples(_scrape(server, key)[0])
    models = {dict(lab)["model"]: v for (n, lab), v in s.items()
              if n == "axonize_gen_ai_requests_total"}
    assert models == {"model-0": 1, "model-1": 2, "model-2": 3, "other": 4 + 5}
    other = {"tenant": tid, "model": "other"}
    assert _find(s, "axonize_gen_ai_time_to_first_token_seconds_count", **other) == [9]
    assert _find(s, "axonize_metrics_label_overflow_total", tenant=tid, label="model") == [9]
