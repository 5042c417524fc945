"""The process's Prometheus exporter (``AXONIZE_PROMETHEUS_PORT``): off by default, and when on
it serves the GenAI histograms and GPU gauges the process aggregates, plus health endpoints."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from axonize_testsupport.ports import free_port
from axonize_testsupport.prometheus import promtool
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

import axonize
from axonize_core import _prometheus

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, accept: str = "") -> tuple[int, str, str]:
    req = urllib.request.Request(url, headers={"accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["content-type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.read().decode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_off_by_default_loads_nothing() -> None:
    code = ("import sys, axonize; axonize.init(exporter='none'); "
            "print('axonize_core._prom_exporter' in sys.modules, "
            "'http.server' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_serves_genai_histograms_gpus_and_health() -> None:
    port = free_port()
    axonize.init(exporter="none", prometheus_port=port, gpu_backend="simulated",
                 gpu_simulate="h100", service_name="exp")
    try:
        with axonize.llm_span(model="tiny", operation="chat", provider="local") as s:
            s.set_tokens_input(4)
            s.set_tokens_output(3)
        axonize.flush(10)
        base = f"http://127.0.0.1:{port}"
        status, content_type, text = _get(f"{base}/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        s = _samples(text)
        labels = {("operation", "chat"), ("model", "tiny"), ("provider", "local")}
        count = [v for (n, lab), v in s.items()
                 if n == "axonize_gen_ai_operation_duration_seconds_count" and labels <= lab]
        assert count == [1]
        tokens = {dict(lab)["token_type"]: v for (n, lab), v in s.items()
                  if n == "axonize_gen_ai_token_usage_tokens_sum"}
        assert tokens == {"input": 4, "output": 3}
        assert any(n == "axonize_gpu_temperature_celsius" for n, _ in s)
        assert any(n == "axonize_gpu_memory_total_bytes" and v > 0 for (n, _), v in s.items())
        checked = promtool("check", "metrics", stdin=text.encode())
        assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()

        status, content_type, om = _get(f"{base}/metrics", "application/openmetrics-text")
        assert content_type.startswith("application/openmetrics-text") and om.endswith("# EOF\n")
        assert any(f.name == "axonize_spans_dropped" for f in openmetrics_families(om))
        for path in ("/healthz", "/health", "/readyz", "/ready"):
            assert _get(base + path)[0] == 200, path
        assert _get(base + "/nope")[0] == 404
    finally:
        axonize.shutdown(10)
    time.sleep(0.1)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


@pytest.mark.axonize_lenient  # a port in use is logged, not raised
def test_a_port_in_use_leaves_the_program_running() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        axonize.init(exporter="none", prometheus_port=port)
        try:
            with axonize.span("still traced"):
                pass
        finally:
            axonize.shutdown(5)


def test_semconv_doc_has_the_prometheus_names() -> None:
    doc = (ROOT / "docs" / "semconv.md").read_text()
    assert _prometheus.render_doc(doc) == doc, (
        "run: python -m axonize semconv --write docs/semconv.md")


def test_axonize_instrument_prometheus_port_serves_the_program() -> None:
    import os

    port = free_port()
    program = ("import axonize, sys\n"
               "with axonize.llm_span(model='m', operation='chat'):\n"
               "    pass\n"
               "axonize.flush(10)\n"
               "print('ready', flush=True)\n"
               "sys.stdin.read()\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    launcher = Path(sys.executable).with_name("axonize-instrument")
    proc = subprocess.Popen(
        [str(launcher), "--prometheus-port", str(port), "--exporter", "none", sys.executable,
         "-c", program], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        status, _, text = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'axonize_gen_ai_operation_duration_seconds_count{operation="chat",model="m"} 1' \
            in text
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(20)
