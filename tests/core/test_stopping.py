"""Stopped the way deployments stop a process, a program still exports what it buffered, then
ends exactly as it would have without Axonize (same exit status, its own handlers kept)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from axonize_testsupport import free_port
from axonize_testsupport.otlp_sink import GrpcSink

HEAD = """
import os, signal, sys, time
import axonize
axonize.init(endpoint=os.environ["SINK"], service_name="stopped", flush_interval_ms=60000)
for i in range(5):
    with axonize.span(f"work {i}"):
        pass
"""
WAIT = """
print("ready", flush=True)
time.sleep(60)
"""


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_until_signalled(sink: GrpcSink, tmp_path: Path, body: str, sig: int,
                         **env: str) -> tuple[int, str]:
    script = tmp_path / "app.py"
    script.write_text(HEAD + textwrap.dedent(body) + WAIT)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**clean, "SINK": sink.endpoint, "PYTHONFAULTHANDLER": "1",
                                 **env},
                            # A shell ignores SIGINT in the jobs it puts in the background, and
                            # Python then installs no Ctrl-C handler: the program as a terminal
                            # would start it.
                            preexec_fn=_sigint_default)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # say where it hangs: every thread's stack
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"the program did not end; its threads:\n{err[-6000:]}") from None
    return proc.returncode, out


def test_sigterm_flushes_then_ends_the_process_as_sigterm_does(
        sink: GrpcSink, tmp_path: Path) -> None:
    code, _ = _run_until_signalled(sink, tmp_path, "", signal.SIGTERM)
    assert code == -signal.SIGTERM
    assert sorted(s.name for s in sink.spans()) == [f"work {i}" for i in range(5)]


def test_without_the_flush_the_buffer_dies_with_the_process(
        sink: GrpcSink, tmp_path: Path) -> None:
    code, _ = _run_until_signalled(sink, tmp_path, "", signal.SIGTERM,
                                   AXONIZE_FLUSH_ON_SIGTERM="false")
    assert code == -signal.SIGTERM
    assert sink.spans() == []


def test_a_handler_of_the_programs_own_is_kept(sink: GrpcSink, tmp_path: Path) -> None:
    code, out = _run_until_signalled(sink, tmp_path, """
        def own(signum, frame):
            print("own handler", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, own)
        """, signal.SIGTERM)
    assert code == 7 and out.strip() == "own handler"
    assert len(sink.spans()) == 5  # its clean exit flushed them (atexit)


def test_a_server_that_restores_the_handler_and_re_raises_reaches_the_flush(
        sink: GrpcSink, tmp_path: Path) -> None:
    # What uvicorn does: capture SIGTERM, shut down gracefully, restore the handler it found,
    # and raise the signal again.
    code, out = _run_until_signalled(sink, tmp_path, """
        found = signal.getsignal(signal.SIGTERM)
        def graceful(signum, frame):
            print("graceful shutdown", flush=True)
            signal.signal(signal.SIGTERM, found)
            signal.raise_signal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, graceful)
        """, signal.SIGTERM)
    assert code == -signal.SIGTERM and "graceful shutdown" in out
    assert len(sink.spans()) == 5


def test_ctrl_c_flushes_at_exit_and_ends_as_an_interrupt(sink: GrpcSink, tmp_path: Path) -> None:
    code, _ = _run_until_signalled(sink, tmp_path, "", signal.SIGINT)
    assert code == -signal.SIGINT
    assert len(sink.spans()) == 5


APP = """
import axonize

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    with axonize.span("handle " + scope["path"]):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
"""


@pytest.mark.slow
def test_uvicorn_under_axonize_instrument_stopped_by_sigterm(
        sink: GrpcSink, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    launcher = Path(sys.executable).with_name("axonize-instrument")
    proc = subprocess.Popen(
        [str(launcher), sys.executable, "-m", "uvicorn", "app:app", "--port", str(port),
         "--host", "127.0.0.1"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                        "AXONIZE_FLUSH_INTERVAL_MS": "60000"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                for i in range(3):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/r{i}", timeout=5) as r:
                        assert r.read() == b"ok"
                break
            except OSError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(s.name for s in sink.spans()) == ["handle /r0", "handle /r1", "handle /r2"], out
    assert proc.returncode in (0, -signal.SIGTERM), out
