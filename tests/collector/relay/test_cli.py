"""``axonize-collector`` as a process: downstream down, relay killed and restarted, downstream
back: every accepted span arrives, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from axonize_testsupport.otlp_sink import GrpcSink
from axonize_testsupport.ports import free_port
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

ROOT = Path(__file__).resolve().parents[3]


def _start(config: Path, grpc_port: int, *args: str) -> subprocess.Popen[str]:
    """The relay as its own process, in a process group of its own (as a terminal's job); its
    log goes to a file beside the config (a pipe nobody reads could fill and stall it)."""
    env = dict(os.environ)
    paths = [str(ROOT / d) for d in ("src", "collector_processor")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "axonize_collector.relay.cli", "--config", str(config),
         "--grpc-port", str(grpc_port), "--http-port", "0", *args],
        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
        stderr=open(config.with_suffix(".log"), "a"))  # noqa: SIM115 - the child holds it
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:  # the line that says it listens
        if line.startswith("axonize-collector listening"):
            return proc
        assert time.monotonic() < deadline, "the relay did not start"
    raise AssertionError(f"the relay exited with {proc.wait()}")


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started (its processing workers), and theirs."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:  # gone meanwhile
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _send(port: int, req: Any) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        export = ch.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
            response_deserializer=ts.ExportTraceServiceResponse.FromString)
        return export(req, timeout=10, wait_for_ready=True)


def test_spans_accepted_while_downstream_is_down_survive_a_restart_and_arrive_once(
        tmp_path, otel_request, genai) -> None:
    down = free_port()
    config = tmp_path / "collector.toml"
    config.write_text(f"""
[[exporters]]
url = "grpc://127.0.0.1:{down}"
timeout_s = 2

[queue]
dir = "{tmp_path / 'queue'}"
retry_initial_s = 0.05
retry_max_s = 0.3
""")
    relay_port = free_port()
    relay = _start(config, relay_port)
    sent = []
    try:
        for i in range(4):  # accepted into the queue while nothing listens downstream
            req = otel_request([{"name": f"s{i}-{j}", "attributes": genai} for j in range(25)])
            assert _send(relay_port, req).partial_success.rejected_spans == 0
            sent += [s.span_id for rs in req.resource_spans for ss in rs.scope_spans
                     for s in ss.spans]
        workers = _descendants(relay.pid)
        assert workers  # the processors run in worker processes (one per core)
    finally:
        relay.send_signal(signal.SIGKILL)  # no goodbye: what was acknowledged is on disk
        relay.wait(10)
    assert len(list((tmp_path / "queue").rglob("*.otlp"))) == 4
    deadline = time.monotonic() + 10  # the workers of a relay killed outright stop too
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]

    relay = _start(config, relay_port)
    sink = GrpcSink(port=down)
    try:
        got = sink.wait_for_spans(len(sent), timeout=30)
        time.sleep(0.5)  # anything sent twice would arrive by now
        got = sink.spans()
        assert sorted(s.span_id for s in got) == sorted(sent)  # all, and each once
        assert all(s.attributes for s in got)
        deadline = time.monotonic() + 10
        while list((tmp_path / "queue").rglob("*.otlp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list((tmp_path / "queue").rglob("*.otlp"))
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(20) == 0
        sink.stop()


def test_help_explains_every_flag() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "collector_processor"),
                                         env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "axonize_collector.relay.cli", "--help"],
                         env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    for flag in ("--config", "--grpc-port", "--http-port", "--to", "--queue-dir",
                 "--queue-max-mb", "--workers", "--pii", "--drop-content", "/healthz", "/metrics"):
        assert flag in out


def test_ctrl_c_stops_the_relay_and_its_workers_quietly(tmp_path, otel_request, genai) -> None:
    sink = GrpcSink()
    config = tmp_path / "collector.toml"
    config.write_text(f"""
[[exporters]]
url = "grpc://127.0.0.1:{sink.port}"

[queue]
dir = "{tmp_path / 'queue'}"
""")
    port = free_port()
    relay = _start(config, port, "--workers", "2")
    try:
        workers = _descendants(relay.pid)
        assert len([w for w in workers if _alive(w)]) >= 2
        _send(port, otel_request([{"name": "one", "attributes": genai}]))
        assert [s.name for s in sink.wait_for_spans(1)] == ["one"]
        os.killpg(relay.pid, signal.SIGINT)  # Ctrl-C: the whole process group gets it
        assert relay.wait(30) == 0
        log = config.with_suffix(".log").read_text()
        assert "Traceback" not in log and "workers stopped" not in log, log
        deadline = time.monotonic() + 10  # (multiprocessing's resource tracker exits last)
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)]
    finally:
        if relay.poll() is None:
            relay.kill()
        sink.stop()
