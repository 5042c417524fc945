"""A real Prometheus for tests (Debian's ``prometheus`` package: ``prometheus`` and
``promtool``), run on loopback with a temporary config and TSDB, and OTLP requests of GenAI spans
and GPU gauges to feed what it scrapes.

``nox -s tests_prometheus`` installs the package when it is missing.  Without it, the tests
that need it are skipped, unless ``AXONIZE_REQUIRE_PROMETHEUS=1`` (set by that session) makes
its absence a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from axonize_testsupport.ports import free_port


def tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool`` (skips the test when missing)."""
    import pytest

    path = shutil.which(name)
    if path is None:
        if os.environ.get("AXONIZE_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{name} is not installed (nox -s tests_prometheus installs it)")
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``promtool`` (30 s at most)."""
    return subprocess.run([tool("promtool"), *args], input=stdin, capture_output=True,
                          timeout=30, check=False)


class Prometheus:
    """A Prometheus server scraping ``targets`` every ``interval_ms``: each target a dict with
    ``job``, ``address`` (host:port) and optionally ``bearer`` (a key)."""

    def __init__(self, targets: list[dict[str, str]], interval_ms: int = 1000) -> None:
        self.binary = tool("prometheus")
        self.dir = Path(tempfile.mkdtemp(prefix="axonize-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jobs = []
        for t in targets:
            job: dict[str, Any] = {
                "job_name": t["job"], "scrape_interval": f"{interval_ms}ms",
                "scrape_timeout": f"{interval_ms}ms",
                "static_configs": [{"targets": [t["address"]]}],
            }
            if t.get("bearer"):
                job["authorization"] = {"type": "Bearer", "credentials": t["bearer"]}
            jobs.append(job)
        config = {"global": {"scrape_interval": f"{interval_ms}ms"}, "scrape_configs": jobs}
        # JSON is YAML: no YAML library needed.
        (self.dir / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")
        self.log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.console.templates=/dev/null", "--web.console.libraries=/dev/null"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                logs = self.logs()
                self.stop()
                raise RuntimeError("prometheus did not start: " + logs)
            time.sleep(0.1)

    def logs(self) -> str:
        return (self.dir / "prometheus.log").read_text(errors="replace")[-4000:]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return list(doc["data"]["result"])

    def targets(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as r:
            return list(json.loads(r.read())["data"]["activeTargets"])

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Query until the result is not empty (fails after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(promql)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


# ---------------------------------------------------------------------------- OTLP requests
def _kv(key: str, value: Any) -> Any:
    from opentelemetry.proto.common.v1 import common_pb2

    if isinstance(value, bool):
        v = common_pb2.AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = common_pb2.AnyValue(int_value=value)
    elif isinstance(value, float):
        v = common_pb2.AnyValue(double_value=value)
    else:
        v = common_pb2.AnyValue(string_value=str(value))
    return common_pb2.KeyValue(key=key, value=v)


def llm_spans_request(service: str, spans: list[dict[str, Any]]) -> bytes:
    """An ``ExportTraceServiceRequest`` of LLM spans, each a dict of span attributes plus
    ``_duration_s`` (default 1.0) and ``_error`` (default False); they end now."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", service))
    ss = rs.scope_spans.add()
    now = time.time_ns()
    for i, attrs in enumerate(spans):
        attrs = dict(attrs)
        duration = int(float(attrs.pop("_duration_s", 1.0)) * 1e9)
        error = bool(attrs.pop("_error", False))
        sp = ss.spans.add()
        sp.trace_id = os.urandom(16)
        sp.span_id = os.urandom(8)
        sp.name = f"{attrs.get('gen_ai.operation.name', 'op')} {i}"
        sp.kind = 3
        sp.start_time_unix_nano = now - duration
        sp.end_time_unix_nano = now
        if error:
            sp.status.code = 2
        sp.attributes.extend(_kv(k, v) for k, v in attrs.items())
    return bytes(req.SerializeToString())


def gpu_gauges_request(gpu_uuid: str, node: str, values: dict[str, float]) -> bytes:
    """An ``ExportMetricsServiceRequest`` with one point of each ``gpu.*`` gauge given."""
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms

    req = ms.ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for name, value in values.items():
        dp = sm.metrics.add(name=name).gauge.data_points.add(
            time_unix_nano=time.time_ns(), as_double=value)
        dp.attributes.extend([_kv("gpu.uuid", gpu_uuid), _kv("gpu.node", node)])
    return bytes(req.SerializeToString())
