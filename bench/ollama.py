"""Caller-thread CPU per Ollama call: the plain client, Axonize, and OpenLLMetry, interleaved
(``ollama_call_overhead_us``, ``ollama_stream_overhead_us``).

The real ``ollama`` client talks to the Ollama stand-in (``axonize_testsupport.ollama_server``),
run in its own process.  The three states of the client (plain, patched by Axonize, patched by
the peer) are swapped in place between rounds, so every round measures all three on the same
machine state; the overhead is the median over rounds of (instrumented - plain).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.measure import Figure
from bench.setups import axonize_idle, otel_provider
from bench.sizes import Sizes

CHUNKS = 64
QUESTION = [{"role": "user", "content": "Why is the sky blue? One sentence."}]
PEER = "opentelemetry-instrumentation-ollama"

State = tuple[Any, Any, Any]


def ollama(sizes: Sizes) -> list[Figure]:
    import ollama as ollama_client
    from axonize_ollama import OllamaInstrumentor

    import axonize

    server = subprocess.Popen(
        [sys.executable, "-m", "axonize_testsupport.ollama_server", "--chunks", str(CHUNKS)],
        stdout=subprocess.PIPE, text=True)
    provider = None
    try:
        port = int(server.stdout.readline()) if server.stdout else 0
        module: Any = sys.modules["ollama._client"]

        def state() -> State:
            return (module.Client.__dict__["_request"], module.AsyncClient.__dict__["_request"],
                    module.__dict__.get("_copy_messages"))

        def set_state(st: State) -> None:
            module.Client._request, module.AsyncClient._request = st[0], st[1]
            if st[2] is not None:
                module._copy_messages = st[2]

        plain = state()
        axonize_idle()
        OllamaInstrumentor().instrument()
        states = {"plain": plain, "axonize": state()}
        OllamaInstrumentor().uninstrument()
        peer_name = "OpenLLMetry " + PEER
        try:
            from importlib.metadata import version

            from opentelemetry.instrumentation import ollama as peer_module

            peer: Any = peer_module.OllamaInstrumentor
            peer_name += f" {version(PEER)} + OTel SDK"
        except ImportError:
            print(f"  ({PEER} is not installed: no peer figure)", file=sys.stderr)
        else:
            provider, _ = otel_provider()
            peer().instrument(tracer_provider=provider)
            states["peer"] = state()
        set_state(plain)

        client = ollama_client.Client(host=f"127.0.0.1:{port}")

        def whole(k: int) -> None:
            for _ in range(k):
                client.chat(model="tiny-llama", messages=QUESTION)

        def streamed(k: int) -> None:
            for _ in range(k):
                for _ in client.chat(model="tiny-llama", messages=QUESTION, stream=True):
                    pass

        # A whole call is ~3x cheaper than a 65-chunk stream: 3x the calls per round, for the
        # same CPU time per measurement and so the same noise.
        results = {label: _rounds(run, k, states, set_state, sizes)
                   for label, run, k in (("whole", whole, 3 * sizes.ollama_calls),
                                         ("stream", streamed, sizes.ollama_calls))}
        set_state(plain)
    finally:
        server.terminate()
        server.wait(10)
    axonize.shutdown(10)
    if provider is not None:
        provider.shutdown()
    return _figures(results, peer_name, "peer" in states)


def _rounds(run: Callable[[int], None], k: int, states: dict[str, State],
            set_state: Callable[[State], None], sizes: Sizes) -> dict[str, list[float]]:
    """CPU ns per call of ``run`` in each client state, the states' order rotating per round."""
    per: dict[str, list[float]] = {mode: [] for mode in states}
    modes = list(states)
    for mode in modes:  # warm up each state
        set_state(states[mode])
        run(sizes.ollama_warmup)
    for t in range(sizes.ollama_trials):
        for mode in modes[t % len(modes):] + modes[:t % len(modes)]:
            set_state(states[mode])
            t0 = time.thread_time_ns()
            run(k)
            per[mode].append((time.thread_time_ns() - t0) / k)
    return per


def _figures(results: dict[str, dict[str, list[float]]], peer_name: str,
             has_peer: bool) -> list[Figure]:
    def overhead_us(label: str, mode: str, per_chunk: bool = False) -> float:
        per = results[label]
        diffs = [m - p for m, p in zip(per[mode], per["plain"], strict=True)]
        return statistics.median(diffs) / 1e3 / ((CHUNKS + 1) if per_chunk else 1)

    plain_whole = statistics.median(results["whole"]["plain"]) / 1e3
    plain_stream = statistics.median(results["stream"]["plain"]) / 1e3
    ax_call, ax_chunk = overhead_us("whole", "axonize"), overhead_us("stream", "axonize", True)
    peer_call = overhead_us("whole", "peer") if has_peer else float("nan")
    peer_chunk = overhead_us("stream", "peer", True) if has_peer else float("nan")
    return [
        Figure("ollama_call_overhead_us", "us", ax_call, peer_call, peer_name,
               peer_call / ax_call if ax_call > 0 else float("nan"), "<= 20 us",
               note=f"non-streamed ollama chat, caller-thread CPU added per call; the plain "
                    f"client itself costs {plain_whole:,.0f} us of CPU per call here"),
        Figure("ollama_stream_overhead_us", "us", ax_chunk, peer_chunk, peer_name,
               peer_chunk / ax_chunk if ax_chunk > 0 else float("nan"), "<= 5 us",
               note=f"streamed chat of {CHUNKS} chunks + the final one: CPU added per "
                    f"call / chunks (the per-call cost included); plain: {plain_stream:,.0f} "
                    "us per call"),
    ]
