"""The collector relay's figures: ``relay_spans_per_s`` (spans per second through
``axonize-collector`` with its defaults, cost and secret redaction, over loopback gRPC in and
out, vs the same sender straight to the sink) and ``relay_down_rss_mb`` (the relay's memory
growth while its destination is down and senders keep sending, vs its configured queue bound).

The relay runs as its own process (``python -m axonize_collector.relay.cli``), the sink in
another (:class:`bench.counting_sink.CountingSink`); the sender sends pre-encoded requests of 512
GenAI spans with 8 attributes each from 4 threads in the bench process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from axonize_testsupport import free_port
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from bench.counting_sink import CountingSink
from bench.measure import Figure
from bench.sizes import Sizes

BATCH = 512
SENDERS = 4
METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _request(seed: int) -> bytes:
    """512 spans of a chat service, 8 attributes each (one with a bearer token to mask in
    every 64th span)."""
    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "chat-api"
    spans = rs.scope_spans.add().spans
    for i in range(BATCH):
        n = seed * BATCH + i
        sp = spans.add(trace_id=n.to_bytes(16, "big"), span_id=(n + 1).to_bytes(8, "big"),
                       name="chat gpt-4o-mini", kind=3, start_time_unix_nano=1_700_000_000 * 10**9,
                       end_time_unix_nano=1_700_000_001 * 10**9)
        a = sp.attributes
        a.add(key="gen_ai.operation.name").value.string_value = "chat"
        a.add(key="gen_ai.provider.name").value.string_value = "openai"
        a.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
        a.add(key="gen_ai.response.model").value.string_value = "gpt-4o-mini-2024-07-18"
        a.add(key="gen_ai.usage.input_tokens").value.int_value = 1000 + i
        a.add(key="gen_ai.usage.output_tokens").value.int_value = 200 + i
        a.add(key="server.address").value.string_value = "api.openai.com"
        header = "Bearer abcdefgh12345678" if i % 64 == 0 else f"req-{n:012d}"
        a.add(key="http.request.header.x-request-id").value.string_value = header
    return bytes(req.SerializeToString())


def _send_all(port: int, bodies: list[bytes], total: int, retry_full: bool = True) -> int:
    """Send ``total`` spans (whole requests) from :data:`SENDERS` threads; returns how many
    were accepted (a full queue answers UNAVAILABLE: retried when ``retry_full``)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                    [("grpc.max_send_message_length", 64 * 2**20)])
    call = channel.unary_unary(METHOD, None, None)  # bytes in, bytes out
    accepted = [0]
    lock = threading.Lock()
    per = max(1, total // BATCH // SENDERS)

    def sender(k: int) -> None:
        for j in range(per):
            while True:
                try:
                    call(bodies[(k + j) % len(bodies)], timeout=30, wait_for_ready=True)
                except grpc.RpcError as exc:
                    if retry_full and exc.code() == grpc.StatusCode.UNAVAILABLE:
                        time.sleep(0.01)
                        continue
                    return
                break
            with lock:
                accepted[0] += BATCH

    with futures.ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(sender, range(SENDERS)))
    channel.close()
    return accepted[0]


class _Relay:
    def __init__(self, to: str, queue_dir: str, queue_mb: float) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        env = dict(os.environ)
        root = Path(__file__).resolve().parents[1]
        env["PYTHONPATH"] = os.pathsep.join(
            [str(root / "src"), str(root / "collector_processor"), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axonize_collector.relay.cli", "--to", to,
             "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
             "--queue-dir", queue_dir, "--queue-max-mb", str(queue_mb)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("axonize-collector listening"):
            raise RuntimeError(f"the relay did not start ({self.proc.wait(10)})")

    def rss(self) -> int:
        """Resident memory of the relay and its processing workers together."""
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo += [int(c) for c in f.read().split()]
            except (OSError, ValueError):  # gone meanwhile
                continue
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def relay(sizes: Sizes) -> list[Figure]:
    bodies = [_request(k) for k in range(8)]
    total = sizes.relay_spans
    with CountingSink() as sink, tempfile.TemporaryDirectory() as tmp:
        r = _Relay(f"grpc://127.0.0.1:{sink.port}", str(Path(tmp) / "q"), 256)
        try:
            rate = _rate(sink, r.grpc_port, bodies, total)
        finally:
            r.stop()
        direct = _rate(sink, sink.port, bodies, total)
        growth_mb, queued_mb = _down(bodies, sizes.relay_queue_mb, Path(tmp) / "down")
    return [
        Figure("relay_spans_per_s", "spans/s", rate, direct, "straight to the sink",
               rate / direct, "≥ 50,000",
               "cost + secret redaction, 512 spans x 8 attributes per request, gRPC in and "
               f"out, {SENDERS} sender threads"),
        Figure("relay_down_rss_mb", "MB", growth_mb, float(sizes.relay_queue_mb),
               "configured queue bound", sizes.relay_queue_mb / max(growth_mb, 1e-9),
               "≤ the queue bound",
               f"RSS growth while the destination is down and senders fill the queue "
               f"({queued_mb:.1f} MB queued on disk)"),
    ]


def _rate(sink: CountingSink, port: int, bodies: list[bytes], total: int) -> float:
    sink.reset()
    _send_all(port, bodies, BATCH * SENDERS)  # warm up
    sink.wait_for(BATCH * SENDERS, 60)
    sink.reset()
    t0 = time.perf_counter()
    sent = _send_all(port, bodies, total)
    got = sink.wait_for(sent, 300)
    elapsed = time.perf_counter() - t0
    if got < sent:
        raise RuntimeError(f"{sent - got} of {sent} spans did not arrive")
    return sent / elapsed


def _down(bodies: list[bytes], queue_mb: float, queue_dir: Path) -> tuple[float, float]:
    """RSS growth of a relay whose destination is down while senders send twice what its queue
    holds (what does not fit is refused: UNAVAILABLE), and the bytes it queued."""
    r = _Relay(f"grpc://127.0.0.1:{free_port()}", str(queue_dir), queue_mb)
    try:
        _send_all(r.grpc_port, bodies[:1], BATCH)  # code paths warm
        idle = peak = r.rss()
        per_request = len(bodies[0])
        n = int(2 * queue_mb * 2**20 / per_request) * BATCH
        done = threading.Event()

        def send() -> None:
            try:
                _send_all(r.grpc_port, bodies, n, retry_full=False)
            finally:
                done.set()

        worker = threading.Thread(target=send)
        worker.start()
        while not done.wait(0.1):
            peak = max(peak, r.rss())
        worker.join()
        peak = max(peak, r.rss())
        queued = sum(f.stat().st_size for f in queue_dir.rglob("*.otlp"))
        return (peak - idle) / 2**20, queued / 2**20
    finally:
        r.stop()

