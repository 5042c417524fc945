"""A real Prometheus scrapes axonize-server and an instrumented process on loopback, and its API
finds the series and values of the data sent over OTLP; the label limit holds against 10,000
model names; a scrape without a key is refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from axonize_testsupport.backend_server import ADMIN, BackendServer
from axonize_testsupport.ports import free_port
from axonize_testsupport.prometheus import Prometheus, llm_spans_request

LIMIT = 50
PROCESS = textwrap.dedent("""
    import sys, axonize
    axonize.init(exporter="none", prometheus_port=int(sys.argv[1]), service_name="proc")
    for _ in range(3):
        with axonize.llm_span(model="proc-model", operation="chat") as s:
            s.set_tokens_output(5)
    axonize.flush(10)
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes it
""")


def _post(srv: BackendServer, key: str, body: bytes) -> None:
    r = srv.http.post("/v1/traces", content=body, headers={
        "content-type": "application/x-protobuf", "authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text


def _value(result: list[dict[str, object]]) -> float:
    assert len(result) == 1, result
    value = result[0]["value"]
    assert isinstance(value, list)
    return float(value[1])


def test_prometheus_scrapes_the_backend_and_a_process(
        data_dirs: Callable[[str], Path]) -> None:
    srv = BackendServer(data_dirs("prometheus") / "data", metrics_label_limit=LIMIT)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", PROCESS, str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    prom = None
    try:
        tid, key = srv.tenant("scraped")
        flood_tid, flood_key = srv.tenant("flood")
        _post(srv, key, llm_spans_request("chat-svc", [
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama",
             "ai.llm.ttft_ms": 20.0, "gen_ai.usage.output_tokens": 8, "_duration_s": 0.3},
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama",
             "ai.llm.ttft_ms": 200.0, "gen_ai.usage.output_tokens": 4, "_error": True},
        ]))
        for start in range(0, 10_000, 1_000):
            _post(srv, flood_key, llm_spans_request("flood-svc", [
                {"gen_ai.operation.name": "chat", "gen_ai.request.model": f"model-{i}"}
                for i in range(start, start + 1_000)]))
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

        backend = f"127.0.0.1:{srv.http_port}"
        prom = Prometheus([
            {"job": "tenant", "address": backend, "bearer": key},
            {"job": "admin", "address": backend, "bearer": ADMIN},
            {"job": "nokey", "address": backend},
            {"job": "process", "address": f"127.0.0.1:{port}"},
        ])
        labels = f'job="tenant",tenant="{tid}",service="chat-svc",model="llama",operation="chat"'
        found = prom.wait_for(f"axonize_gen_ai_requests_total{{{labels}}}")
        assert _value(found) == 2
        assert _value(prom.query(f"axonize_gen_ai_errors_total{{{labels}}}")) == 1
        assert _value(prom.query(
            f'axonize_gen_ai_tokens_total{{{labels},token_type="output"}}')) == 12
        ttft = "axonize_gen_ai_time_to_first_token_seconds_bucket"
        assert _value(prom.query(f'{ttft}{{{labels},le="0.04"}}')) == 1
        assert _value(prom.query(f'{ttft}{{{labels},le="0.25"}}')) == 2
        # A tenant's scrape holds nothing of another tenant.
        assert prom.query(f'axonize_gen_ai_requests_total{{job="tenant",tenant="{flood_tid}"}}'
                          ) == []

        # 10,000 model names: at most LIMIT of them, and the rest in "other", counted.
        flood = f'job="admin",tenant="{flood_tid}"'
        prom.wait_for(f'axonize_metrics_label_overflow_total{{{flood},label="model"}}')
        models = prom.query(f"count(axonize_gen_ai_requests_total{{{flood}}})")
        assert _value(models) == LIMIT + 1
        other = prom.query(f'axonize_gen_ai_requests_total{{{flood},model="other"}}')
        assert _value(other) == 10_000 - LIMIT
        assert _value(prom.query(
            f'axonize_metrics_label_overflow_total{{{flood},label="model"}}')) == 10_000 - LIMIT
        assert _value(prom.query('axonize_server_ingest_spans_total{job="admin"}')) == 10_002

        # The instrumented process's own exporter.
        count = prom.wait_for('axonize_gen_ai_operation_duration_seconds_count'
                              '{job="process",model="proc-model",operation="chat"}')
        assert _value(count) == 3
        assert _value(prom.query(
            'axonize_gen_ai_token_usage_tokens_sum{job="process",token_type="output"}')) == 15

        # Without a key the scrape is refused.
        deadline = time.monotonic() + 30
        while any(t["health"] == "unknown" for t in prom.targets()):
            assert time.monotonic() < deadline, prom.targets()
            time.sleep(0.25)
        nokey = [t for t in prom.targets() if t["labels"]["job"] == "nokey"]
        assert nokey and nokey[0]["health"] == "down"
        assert "401" in str(nokey[0]["lastError"])
        up = {t["labels"]["job"]: t["health"] for t in prom.targets()}
        assert up == {"tenant": "up", "admin": "up", "nokey": "down", "process": "up"}
    finally:
        if prom is not None:
            prom.stop()
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(20)
        srv.stop()
