"""``nox -s bench``: every README figure, measured against its baseline in the same run.

Usage: python bench/run.py [--json FILE] [--quick] [--only NAME[,NAME...]]

Each figure is the median of repeated trials.  Caller-thread costs are CPU time of the calling
thread (``time.thread_time_ns``) over bursts of spans, with the exporter thread idle during the
burst and a flush between bursts, for Axonize and the OTel SDK alike; GC stays on, as in a real
program.  End-to-end export goes over loopback gRPC to an OTLP sink in a separate process that
decodes and counts every span.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent import futures
from dataclasses import asdict, dataclass
from typing import Any

ATTRS8 = {
    "ai.model.name": "llama-3-8b",
    "ai.llm.tokens.input": 512,
    "ai.llm.tokens.output": 128,
    "ai.llm.ttft_ms": 41.5,
    "ai.llm.tokens_per_second": 87.25,
    "user.id": "user-1234",
    "request.stream": True,
    "http.route": "/v1/chat/completions",
}


@dataclass
class Figure:
    name: str
    unit: str
    axonize: float
    baseline: float
    baseline_name: str
    ratio: float  # > 1 means Axonize is better (cheaper, or faster)
    target: str
    note: str = ""


# ------------------------------------------------------------------------- sink process
def _sink_main(port_q: Any, counter: Any) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

    def export(request: Any, context: Any) -> Any:
        n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with counter.get_lock():
            counter.value += n
        return ts.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=ts.ExportTraceServiceRequest.FromString,
            response_serializer=ts.ExportTraceServiceResponse.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    port_q.put(port)
    server.wait_for_termination()


class Sink:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.counter = ctx.Value("q", 0)
        q = ctx.Queue()
        self.proc = ctx.Process(target=_sink_main, args=(q, self.counter), daemon=True)
        self.proc.start()
        self.port = q.get(timeout=60)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self.counter.get_lock():
            self.counter.value = 0

    def wait_for(self, n: int, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.counter.value >= n:
                break
            time.sleep(0.002)
        return int(self.counter.value)

    def stop(self) -> None:
        self.proc.terminate()


# ------------------------------------------------------------------------- helpers
def caller_ns(burst: Callable[[int], None], n: int, trials: int,
              between: Callable[[], None]) -> float:
    """Median over trials of the caller thread's CPU ns per operation."""
    samples = []
    burst(min(n, 2000))  # warm up
    between()
    for _ in range(trials):
        t0 = time.thread_time_ns()
        burst(n)
        samples.append((time.thread_time_ns() - t0) / n)
        between()
    return statistics.median(samples)


def paired_ns(
    ax_burst: Callable[[int], None], ax_between: Callable[[], None],
    ot_burst: Callable[[int], None], ot_between: Callable[[], None], n: int, trials: int,
) -> tuple[float, float, float]:
    """Alternate Axonize and baseline trials so both see the same machine noise.

    Returns the medians of each side's CPU ns per operation and the median per-trial ratio.
    """
    ax_burst(min(n, 2000))
    ax_between()
    ot_burst(min(n, 2000))
    ot_between()
    ax_s, ot_s = [], []
    for _ in range(trials):
        t0 = time.thread_time_ns()
        ax_burst(n)
        ax_s.append((time.thread_time_ns() - t0) / n)
        ax_between()
        t0 = time.thread_time_ns()
        ot_burst(n)
        ot_s.append((time.thread_time_ns() - t0) / n)
        ot_between()
    ratio = statistics.median(o / a for a, o in zip(ax_s, ot_s, strict=True))
    return statistics.median(ax_s), statistics.median(ot_s), ratio


def otel_provider(sampler: Any = None, queue: int = 1 << 17) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class NullExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    kwargs = {"sampler": sampler} if sampler is not None else {}
    provider = TracerProvider(**kwargs)
    # Exporter idle during the burst, like Axonize's: a long delay and a queue that holds it.
    provider.add_span_processor(BatchSpanProcessor(
        NullExporter(), max_queue_size=queue, schedule_delay_millis=3_600_000,
        max_export_batch_size=queue))
    return provider, provider.get_tracer("bench")


def axonize_idle(**kw: Any) -> None:
    import axonize

    axonize.init(exporter="none", flush_interval_ms=3_600_000, batch_size=1 << 17,
                 max_queue_size=1 << 17, metrics=False, **kw)


# ------------------------------------------------------------------------- figures
def fig_span(trials: int, n: int) -> list[Figure]:
    import axonize

    axonize_idle()
    provider, tracer = otel_provider()
    span = axonize.span
    start = tracer.start_as_current_span
    items = list(ATTRS8.items())

    def ax_plain(k: int) -> None:
        for _ in range(k):
            with span("x"):
                pass

    def ot_plain(k: int) -> None:
        for _ in range(k):
            with start("x"):
                pass

    def ax_attrs(k: int) -> None:
        for _ in range(k):
            with span("x") as s:
                for key, v in items:
                    s.set_attribute(key, v)

    def ot_attrs(k: int) -> None:
        for _ in range(k):
            with start("x") as s:
                for key, v in items:
                    s.set_attribute(key, v)

    def flush() -> None:
        axonize.flush(60)

    def oflush() -> None:
        provider.force_flush(60_000)

    ax1, ot1, r1 = paired_ns(ax_plain, flush, ot_plain, oflush, n, trials)
    ax8, ot8, r8 = paired_ns(ax_attrs, flush, ot_attrs, oflush, n, trials)
    axonize.shutdown(10)
    provider.shutdown()
    base = "OTel SDK start_as_current_span + BatchSpanProcessor"
    return [
        Figure("span_ns", "ns", ax1, ot1, base, r1, "<= 1000 ns, >= 10x"),
        Figure("span_8attrs_ns", "ns", ax8, ot8, base + " (same 8 attributes)", r8,
               "<= 2500 ns, >= 10x"),
    ]


def fig_record_token(trials: int, n: int) -> list[Figure]:
    import axonize

    axonize_idle()
    s = axonize.llm_span(model="m").start()
    ax = caller_ns(lambda k: [s.record_token() for _ in range(k)], n * 5, trials, lambda: None)
    s.end()
    axonize.shutdown(10)
    provider, tracer = otel_provider()
    o = tracer.start_span("x")
    ot = caller_ns(lambda k: [o.add_event("gen_ai.token") for _ in range(k)], n, trials,
                   lambda: None)
    o.end()
    provider.shutdown()
    # list-comprehension overhead is in both; report it so the figure is honest
    empty = caller_ns(lambda k: [None for _ in range(k)], n * 5, trials, lambda: None)
    return [Figure("record_token_ns", "ns", ax, ot, "OTel SDK span.add_event per token",
                   ot / ax, "<= 100 ns", note=f"includes ~{empty:.0f} ns of loop")]


def fig_sampled(trials: int, n: int) -> list[Figure]:
    return [_sampled_at(rate, trials, n) for rate in (0.01, 0.1)]


def _sampled_at(rate: float, trials: int, n: int) -> Figure:
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    import axonize

    axonize_idle(sample_rate=rate)
    provider, tracer = otel_provider(ParentBased(TraceIdRatioBased(rate)))
    span = axonize.span
    start = tracer.start_as_current_span

    def ax_burst(k: int) -> None:
        for _ in range(k):
            with span("x") as sp:
                sp.set_attribute("k", 1)

    def ot_burst(k: int) -> None:
        for _ in range(k):
            with start("x") as sp:
                sp.set_attribute("k", 1)

    ax, ot, ratio = paired_ns(ax_burst, lambda: axonize.flush(60), ot_burst,
                              lambda: provider.force_flush(60_000), n, trials)
    axonize.shutdown(10)
    provider.shutdown()
    return Figure(f"sampled_span_ns@{rate}", "ns", ax, ot,
                  f"OTel SDK ParentBased(TraceIdRatioBased({rate}))", ratio,
                  "what a root span costs at this rate, 1 attribute")


def fig_memory(trials: int, n: int) -> list[Figure]:
    import axonize

    def measure(make: Callable[[int], None]) -> float:
        samples = []
        for _ in range(max(3, trials // 2)):
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            make(n)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            samples.append((after - before) / n)
            cleanup()
        return statistics.median(samples)

    def ax_make(k: int) -> None:
        for i in range(k):
            with axonize.span("generate") as s:
                s.set_attributes(ATTRS8)
                s.set_attribute("ai.llm.tokens.input", i)

    axonize_idle()
    cleanup = lambda: axonize.flush(60)  # noqa: E731
    ax = measure(ax_make)
    axonize.shutdown(10)
    provider, tracer = otel_provider()

    def ot_make(k: int) -> None:
        for i in range(k):
            with tracer.start_as_current_span("generate") as s:
                s.set_attributes(ATTRS8)
                s.set_attribute("ai.llm.tokens.input", i)

    cleanup = lambda: provider.force_flush(60_000)  # noqa: E731
    ot = measure(ot_make)
    provider.shutdown()
    return [Figure("buffered_bytes_per_span", "B", ax, ot,
                   "OTel SDK ReadableSpan in BatchSpanProcessor's queue", ot / ax,
                   "<= 1024 B (8 attributes)")]


def fig_hf_generate(trials: int) -> list[Figure]:
    """Tokens/s of greedy generate on a tiny local Llama, plugin active vs not, alternating."""
    import tempfile
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import tiny_models
    from axonize_transformers import TransformersInstrumentor

    import axonize

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model, tok = tiny_models.load(tiny_models.build_llama(Path(tmp) / "tiny-llama"))
    enc = tok("hello world", return_tensors="pt")
    new_tokens = 32
    inst = TransformersInstrumentor()
    axonize.init(exporter="none", metrics=True)

    def tokens_per_s(calls: int) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           do_sample=False)
        return calls * new_tokens / (time.perf_counter() - t0)

    with torch.inference_mode():
        tokens_per_s(3)  # warm up
        plain, traced = [], []
        for _ in range(trials):
            inst.uninstrument()
            plain.append(tokens_per_s(5))
            inst.instrument()
            traced.append(tokens_per_s(5))
    inst.uninstrument()
    axonize.shutdown(10)
    ax, base = statistics.median(traced), statistics.median(plain)
    # Reported as slowdown: baseline tokens/s over instrumented tokens/s (1.00 = no cost).
    return [Figure("hf_generate_overhead", "x", base / ax, 1.0,
                   "uninstrumented transformers generate, same process", base / ax,
                   "<= 1.02 (at most 2% slower)",
                   note=f"tiny Llama, greedy, {new_tokens} new tokens: {ax:,.0f} tok/s traced, "
                        f"{base:,.0f} tok/s plain")]


def fig_gpu(trials: int, n: int, seconds: float) -> list[Figure]:
    """The GPU profiler: what set_gpus costs the caller, and what the sampler costs a core."""
    import axonize
    from axonize_core.gpu import GpuProfiler, NvmlBackend, SimulatedNvml

    axonize_idle(gpu_backend="simulated", gpu_simulate="8xh100")
    span = axonize.span

    def plain(k: int) -> None:
        for _ in range(k):
            with span("x"):
                pass

    def with_gpus(k: int) -> None:
        for _ in range(k):
            with span("x") as s:
                s.set_gpus("cuda:0")

    def flush() -> None:
        axonize.flush(60)

    ax, base, ratio = paired_ns(with_gpus, flush, plain, flush, n, trials)
    axonize.shutdown(10)

    # The sampler's own CPU clock, over `seconds`, reading 8 simulated GPUs every 100 ms.
    lib = SimulatedNvml("8xh100")
    lib.nvmlInit()
    profiler = GpuProfiler(NvmlBackend(lib), 0.1).start()
    thread = profiler._thread
    assert thread is not None and thread.ident is not None
    clock = time.pthread_getcpuclockid(thread.ident)
    time.sleep(0.5)
    cpu0, t0, calls0 = time.clock_gettime(clock), time.monotonic(), lib.calls
    time.sleep(seconds)
    cpu1, t1, calls1 = time.clock_gettime(clock), time.monotonic(), lib.calls
    profiler.stop()
    pct = (cpu1 - cpu0) / (t1 - t0) * 100
    per_call_us = (cpu1 - cpu0) / max(1, calls1 - calls0) * 1e6
    return [
        Figure("set_gpus_span_ns", "ns", ax, base, "a plain Axonize span, same process",
               ratio, "<= 2x a plain span",
               note=f"span + set_gpus('cuda:0'): {ax / base:.2f}x a plain span; the GPU window "
                    "is aggregated on the exporter thread"),
        Figure("gpu_sampler_cpu_pct", "%", pct, float("nan"), "one core", float("nan"),
               "<= 0.5% of one core",
               note=f"8 simulated H100s every 100 ms for {seconds:.0f} s, the sampler thread's "
                    f"CPU clock ({per_call_us:.1f} us per NVML call incl. the simulated "
                    "library; real NVML calls add their driver time)"),
    ]


OLLAMA_CHUNKS = 64
OLLAMA_QUESTION = [{"role": "user", "content": "Why is the sky blue? One sentence."}]


def fig_ollama(trials: int, calls: int) -> list[Figure]:
    """Caller-thread CPU per Ollama call: plain client, Axonize, OpenLLMetry, interleaved.

    The real ``ollama`` client talks to the test suite's local Ollama-API server, run in its own
    process.  The three states of the client (plain, patched by Axonize, patched by the peer)
    are swapped in place between rounds, so every round measures all three on the same
    machine state; the overhead is the median over rounds of (instrumented - plain).
    """
    import subprocess
    from pathlib import Path

    import ollama
    from axonize_ollama import OllamaInstrumentor

    import axonize

    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "tests" / "ollama_server.py"),
         "--chunks", str(OLLAMA_CHUNKS)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline()) if server.stdout else 0
        module = sys.modules["ollama._client"]

        def state() -> tuple[Any, Any, Any]:
            return (module.Client.__dict__["_request"], module.AsyncClient.__dict__["_request"],
                    module.__dict__.get("_copy_messages"))

        def set_state(st: tuple[Any, Any, Any]) -> None:
            module.Client._request, module.AsyncClient._request = st[0], st[1]
            if st[2] is not None:
                module._copy_messages = st[2]

        plain = state()
        axonize_idle()
        OllamaInstrumentor().instrument()
        states = {"plain": plain, "axonize": state()}
        OllamaInstrumentor().uninstrument()
        peer_name = "OpenLLMetry opentelemetry-instrumentation-ollama"
        provider = None
        try:
            from importlib.metadata import version

            from opentelemetry.instrumentation.ollama import OllamaInstrumentor as Peer
            peer_name += f" {version('opentelemetry-instrumentation-ollama')} + OTel SDK"
        except ImportError:
            print("  (opentelemetry-instrumentation-ollama is not installed: no peer figure)",
                  file=sys.stderr)
        else:
            provider, _ = otel_provider()
            Peer().instrument(tracer_provider=provider)
            states["peer"] = state()
        set_state(plain)

        client = ollama.Client(host=f"127.0.0.1:{port}")

        def whole(k: int) -> None:
            for _ in range(k):
                client.chat(model="tiny-llama", messages=OLLAMA_QUESTION)

        def streamed(k: int) -> None:
            for _ in range(k):
                for _ in client.chat(model="tiny-llama", messages=OLLAMA_QUESTION, stream=True):
                    pass

        results: dict[str, dict[str, list[float]]] = {}
        # A whole call is ~3x cheaper than a 65-chunk stream: 3x the calls per round, for the
        # same CPU time per measurement and so the same noise.
        for label, run, k in (("whole", whole, 3 * calls), ("stream", streamed, calls)):
            per = results[label] = {mode: [] for mode in states}
            modes = list(states)
            for mode in modes:  # warm up each state
                set_state(states[mode])
                run(20)
            for t in range(trials):
                for mode in modes[t % len(modes):] + modes[:t % len(modes)]:
                    set_state(states[mode])
                    t0 = time.thread_time_ns()
                    run(k)
                    per[mode].append((time.thread_time_ns() - t0) / k)
        set_state(plain)
    finally:
        server.terminate()
        server.wait(10)
    axonize.shutdown(10)
    if provider is not None:
        provider.shutdown()

    def overhead_us(label: str, mode: str, per_chunk: bool = False) -> float:
        per = results[label]
        diffs = [m - p for m, p in zip(per[mode], per["plain"], strict=True)]
        return statistics.median(diffs) / 1e3 / ((OLLAMA_CHUNKS + 1) if per_chunk else 1)

    plain_whole = statistics.median(results["whole"]["plain"]) / 1e3
    plain_stream = statistics.median(results["stream"]["plain"]) / 1e3
    ax_call, ax_chunk = overhead_us("whole", "axonize"), overhead_us("stream", "axonize", True)
    has_peer = "peer" in states
    peer_call = overhead_us("whole", "peer") if has_peer else float("nan")
    peer_chunk = overhead_us("stream", "peer", True) if has_peer else float("nan")
    return [
        Figure("ollama_call_overhead_us", "us", ax_call, peer_call, peer_name,
               peer_call / ax_call if ax_call > 0 else float("nan"), "<= 20 us",
               note=f"non-streamed ollama chat, caller-thread CPU added per call; the plain "
                    f"client itself costs {plain_whole:,.0f} us of CPU per call here"),
        Figure("ollama_stream_overhead_us", "us", ax_chunk, peer_chunk, peer_name,
               peer_chunk / ax_chunk if ax_chunk > 0 else float("nan"), "<= 5 us",
               note=f"streamed chat of {OLLAMA_CHUNKS} chunks + the final one: CPU added per "
                    f"call / chunks (the per-call cost included); plain: {plain_stream:,.0f} "
                    "us per call"),
    ]


def _realistic_requests(n_spans: int, per_request: int = 512) -> list[bytes]:
    """OTLP trace requests of LLM-serving spans: 8 attributes each, 4 spans per trace, a few
    models, services and routes, a thousand users, times spread over the last hour."""
    import random

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.common.v1 import common_pb2

    rng = random.Random(7)
    models = ["llama-3-8b", "llama-3-70b", "mistral-7b", "qwen2-7b", "phi-3-mini"]
    routes = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
    now = time.time_ns()
    out = []
    made = 0
    trace_id = root_id = root_start = 0
    while made < n_spans:
        req = ts.ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(
            string_value=f"svc-{made // per_request % 4}"))
        ss = rs.scope_spans.add()
        for i in range(min(per_request, n_spans - made)):
            sp = ss.spans.add()
            trace = (made + i) // 4
            if (made + i) % 4 == 0:  # random ids, as real tracers make them
                trace_id, root_id = rng.getrandbits(128), rng.getrandbits(64) | 1
                sp.span_id = root_id.to_bytes(8, "big")
            else:
                sp.span_id = (rng.getrandbits(64) | 1).to_bytes(8, "big")
                sp.parent_span_id = root_id.to_bytes(8, "big")
            sp.trace_id = trace_id.to_bytes(16, "big")
            if (made + i) % 4 == 0:  # the root: a request some time in the last hour
                root_start = now - rng.randrange(3600 * 10**9)
                start, end = root_start, root_start + rng.randrange(10**8, 4 * 10**9)
            else:  # its children run inside it
                start = root_start + rng.randrange(10**6, 5 * 10**7)
                end = start + rng.randrange(10**6, 5 * 10**7)
            sp.start_time_unix_nano = start
            sp.end_time_unix_nano = end
            sp.name = "chat " + models[trace % 5]
            sp.kind = 3
            if rng.random() < 0.02:
                sp.status.code = 2
                sp.status.message = "upstream timeout"
            for key, value in (
                    ("ai.model.name", models[trace % 5]),
                    ("ai.operation.name", "chat"),
                    ("ai.llm.tokens.input", rng.randrange(20, 4000)),
                    ("ai.llm.tokens.output", rng.randrange(1, 1000)),
                    ("ai.llm.ttft_ms", rng.uniform(20, 900)),
                    ("ai.llm.tokens_per_second", rng.uniform(20, 200)),
                    ("user.id", f"user-{rng.randrange(1000)}"),
                    ("http.route", routes[trace % 3])):
                av = common_pb2.AnyValue()
                if isinstance(value, int):
                    av.int_value = value
                elif isinstance(value, float):
                    av.double_value = value
                else:
                    av.string_value = value
                sp.attributes.add(key=key, value=av)
        made += len(ss.spans)
        out.append(req.SerializeToString())
    return out


def fig_backend(n_spans: int, api_calls: int) -> list[Figure]:
    """The backend on its embedded stores, in its own process: ingest rate over OTLP/gRPC,
    bytes on disk per span, and API p99 with ``n_spans`` stored."""
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import grpc
    import httpx

    tmp = tempfile.mkdtemp(prefix="axonize-bench-")
    data = Path(tmp) / "data"
    grpc_port, http_port = _free_port(), _free_port()
    env = {**os.environ, "AXONIZE_ADMIN_KEY": "bench-admin"}
    cli = [sys.executable, "-m", "axonize_backend.cli"]
    server = subprocess.Popen([*cli, "serve", "--data-dir", str(data), "--grpc-port",
                               str(grpc_port), "--http-port", str(http_port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{http_port}"
    try:
        http = httpx.Client(base_url=base, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("axonize-server did not start")
            time.sleep(0.2)
        admin = {"authorization": "Bearer bench-admin"}
        tid = http.post("/api/v1/admin/tenants", json={"name": "bench"}, headers=admin).json()[
            "id"]
        key = http.post(f"/api/v1/admin/tenants/{tid}/keys", headers=admin).json()["key"]
        print(f"  building {n_spans:,} spans ...", file=sys.stderr, flush=True)
        bodies = _realistic_requests(n_spans)
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[
            ("grpc.max_send_message_length", 64 << 20)])
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        meta = (("authorization", f"Bearer {key}"),)

        def send(body: bytes) -> None:
            for attempt in range(20):
                try:
                    export(body, metadata=meta, timeout=120)
                    return
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == 19:
                        raise
                    time.sleep(0.05 * (attempt + 1))

        send(bodies[0])  # warm up
        print("  sending over 8 gRPC streams ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, bodies[1:]))
        acked_s = time.perf_counter() - t0
        # Sustained means stored: an API call answers once everything acknowledged is loaded
        # into ClickHouse, so the clock stops when the spans can be queried.
        headers = {"authorization": f"Bearer {key}"}
        assert http.get("/api/v1/traces", params={"limit": "1"}, headers=headers,
                        timeout=600).status_code == 200
        ingest = (n_spans - 512) / (time.perf_counter() - t0)
        acked = (n_spans - 512) / acked_s
        # The load's reference: what one OTel SDK process (BatchSpanProcessor +
        # OTLPSpanExporter) pushes into the same server, 8 attributes per span.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers=meta),
            max_queue_size=1 << 16, max_export_batch_size=512))
        tracer = provider.get_tracer("bench")
        n_ref = 20_000
        t0 = time.perf_counter()
        for _ in range(n_ref):
            with tracer.start_as_current_span("generate") as sp:
                sp.set_attributes(ATTRS8)
        provider.force_flush(120_000)
        reference = n_ref / (time.perf_counter() - t0)
        provider.shutdown()
        stored = n_spans + n_ref
        # Loaded before the API is timed (a call waits for what was acknowledged before it).
        http.get("/api/v1/traces", params={"limit": "1"}, headers=headers, timeout=600)
        since = str(time.time_ns() - 2 * 3600 * 10**9)
        lat: dict[str, list[float]] = {"traces": [], "overview": []}
        for i in range(api_calls):
            for name, path, params in (
                    ("traces", "/api/v1/traces", {"since": since, "limit": "50",
                                                  **({"model": "mistral-7b"} if i % 2 else {})}),
                    ("overview", "/api/v1/analytics/overview", {"since": since})):
                t0 = time.perf_counter()
                r = http.get(path, params=params, headers=headers)
                lat[name].append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
    finally:
        server.terminate()
        server.wait(30)
    # Bytes on disk of the spans table once merged, read with chDB from the server's files.
    from chdb import session

    db = session.Session(str(data / "clickhouse"))
    db.query("OPTIMIZE TABLE axonize.spans FINAL")
    parts = json.loads(db.query(
        "SELECT sum(bytes_on_disk) AS b, sum(rows) AS r FROM system.parts "
        "WHERE active AND database = 'axonize' AND table = 'spans'", "JSON").bytes())["data"][0]
    db.close()
    on_disk, stored_rows = int(parts["b"]), int(parts["r"])
    p99 = {k: sorted(v)[max(0, int(len(v) * 0.99) - 1)] for k, v in lat.items()}
    p50 = {k: statistics.median(v) for k, v in lat.items()}
    return [
        Figure("ingest_spans_per_s", "spans/s", ingest, reference,
               "one OTel SDK process (BatchSpanProcessor + OTLPSpanExporter) sending to it",
               ingest / reference, ">= 50,000 spans/s",
               note=f"{n_spans:,} spans with 8 attributes in 512-span requests over 8 gRPC "
                    "streams into the embedded stores, timed until all can be queried "
                    f"(acknowledged, i.e. in the ingest log, at {acked:,.0f}/s)"),
        Figure("storage_bytes_per_span", "B", on_disk / stored_rows, float("nan"), "",
               float("nan"), "<= 100 B",
               note=f"spans table on disk after merging / {stored_rows:,} spans stored"),
        Figure("api_p99_ms", "ms", max(p99.values()), float("nan"), "", float("nan"),
               "<= 50 ms", note=f"{stored:,} spans stored: list-traces p50 {p50['traces']:.1f} / "
                                f"p99 {p99['traces']:.1f} ms, analytics overview p50 "
                                f"{p50['overview']:.1f} / p99 {p99['overview']:.1f} ms, "
                                f"{api_calls} calls each over HTTP"),
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fig_export(trials: int, n: int, sink: Sink) -> list[Figure]:
    """End to end: n spans with 8 attributes, from creation until the sink has them all."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import axonize

    def ax_run(compression: str, defaults: bool) -> tuple[float, int]:
        sink.reset()
        kw: dict[str, Any] = {} if defaults else {"compression": compression}
        axonize.init(endpoint=sink.endpoint, metrics=False, **kw)
        t0 = time.perf_counter()
        for i in range(n):
            with axonize.span("generate") as s:
                s.set_attributes(ATTRS8)
                s.set_attribute("ai.llm.tokens.input", i)
        axonize.flush(120)
        got = sink.wait_for(n)
        dt = time.perf_counter() - t0
        axonize.shutdown(10)
        return n / dt, n - got

    def ot_run(defaults: bool) -> tuple[float, int]:
        sink.reset()
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{sink.port}", insecure=True)
        bsp = BatchSpanProcessor(exporter) if defaults else BatchSpanProcessor(
            exporter, max_queue_size=n * 2)
        provider.add_span_processor(bsp)
        tracer = provider.get_tracer("bench")
        t0 = time.perf_counter()
        for i in range(n):
            with tracer.start_as_current_span("generate") as s:
                s.set_attributes(ATTRS8)
                s.set_attribute("ai.llm.tokens.input", i)
        provider.force_flush(120_000)
        got = sink.wait_for(n, timeout=5 if defaults else 120)
        dt = time.perf_counter() - t0
        provider.shutdown()
        return n / dt, n - got

    ax_rates, ot_rates = [], []
    for _ in range(3):
        ax_rates.append(ax_run("none", defaults=False)[0])
        ot_rates.append(ot_run(defaults=False)[0])
    ax_gzip = statistics.median(ax_run("gzip", defaults=False)[0] for _ in range(2))
    _, ax_dropped = ax_run("gzip", defaults=True)
    _, ot_dropped = ot_run(defaults=True)
    ax, ot = statistics.median(ax_rates), statistics.median(ot_rates)
    return [
        Figure("export_spans_per_s", "spans/s", ax, ot,
               "OTel SDK BatchSpanProcessor + OTLPSpanExporter (gRPC), queue sized to the burst",
               ax / ot, ">= 5x", note=f"{n} spans, 8 attributes, no compression on both sides; "
               f"Axonize with its default gzip: {ax_gzip:,.0f} spans/s"),
        Figure("burst_dropped_spans", "spans", ax_dropped, ot_dropped,
               "OTel SDK BatchSpanProcessor at default settings", float("nan"),
               "0 at default settings", note=f"burst of {n} spans, defaults on both sides"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer trials (for a smoke run)")
    parser.add_argument("--readme", metavar="FILE",
                        help="write the figures as a table between the BENCH markers of FILE")
    parser.add_argument("--only", help="comma-separated figure groups: "
                        "span,record_token,sampled,memory,hf_generate,gpu,backend,ollama,export")
    args = parser.parse_args()
    trials = 5 if args.quick else 31
    n = 2_000 if args.quick else 5_000
    only = set(args.only.split(",")) if args.only else None
    sink = Sink() if (only is None or "export" in only) else None
    figures: list[Figure] = []
    groups: list[tuple[str, Callable[[], list[Figure]]]] = [
        ("span", lambda: fig_span(trials, n)),
        ("record_token", lambda: fig_record_token(trials, n)),
        ("sampled", lambda: fig_sampled(trials, n)),
        ("memory", lambda: fig_memory(9, 10_000)),
        ("hf_generate", lambda: fig_hf_generate(5 if args.quick else 15)),
        ("gpu", lambda: fig_gpu(trials, n, 3.0 if args.quick else 10.0)),
        ("backend", lambda: fig_backend(100_000 if args.quick else 1_000_000,
                                        20 if args.quick else 200)),
        ("ollama", lambda: fig_ollama(5 if args.quick else 41, 40 if args.quick else 100)),
    ]
    if sink is not None:
        groups.append(("export", lambda: fig_export(trials, 20_000 if args.quick else 100_000,
                                                    sink)))
    try:
        for name, run in groups:
            if only is not None and name not in only:
                continue
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            figures.extend(run())
    finally:
        if sink is not None:
            sink.stop()
    print_table(figures)
    if args.readme:
        write_readme(args.readme, figures)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"figures": [_json_safe(asdict(f)) for f in figures],
                       "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}},
                      fh, indent=2)
    return 0


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}


def print_table(figures: list[Figure]) -> None:
    header = f"{'figure':<26}{'axonize':>14}{'baseline':>14}{'ratio':>9}  target / baseline"
    print(header)
    print("-" * len(header))
    for f in figures:
        ratio = "" if f.ratio != f.ratio else f"{f.ratio:.1f}x"
        print(f"{f.name:<26}{_fmt(f.axonize, f.unit):>14}{_fmt(f.baseline, f.unit):>14}"
              f"{ratio:>9}  {f.target}; vs {f.baseline_name}")
        if f.note:
            print(f"{'':<26}{'':>14}{'':>14}{'':>9}  ({f.note})")


def write_readme(path: str, figures: list[Figure]) -> None:
    begin, end = "<!-- BEGIN BENCH -->\n", "<!-- END BENCH -->\n"
    rows = ["| Figure | Axonize | Baseline | Ratio | Target | Baseline is |",
            "| --- | --- | --- | --- | --- | --- |"]
    for f in figures:
        ratio = "" if f.ratio != f.ratio else f"{f.ratio:.1f}x"
        note = f" ({f.note})" if f.note else ""
        rows.append(f"| `{f.name}` | {_fmt(f.axonize, f.unit)} | {_fmt(f.baseline, f.unit)} | "
                    f"{ratio} | {f.target} | {f.baseline_name}{note} |")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + begin + "\n".join(rows) + "\n" + end + tail)


def _fmt(v: float, unit: str) -> str:
    if unit == "x":
        return f"{v:.3f}x"
    if unit == "spans/s":
        return f"{v:,.0f}/s"
    if unit == "spans":
        return f"{v:,.0f}"
    if v != v:  # no baseline
        return "-"
    if unit == "%":
        return f"{v:.2f} %"
    return f"{v:,.0f} {unit}"


if __name__ == "__main__":
    raise SystemExit(main())
