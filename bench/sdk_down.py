"""What a dead endpoint costs a busy process (``sdk_down_rss_mb``): a separate process makes
LLM-sized spans at a steady rate while nothing listens at its endpoint, and its resident memory
above what it held before the outage is read every half second; the figure is the peak.

The baseline is the same process with the buffer bounded by span count alone (Axonize before
``max_queue_bytes``): 131,072 spans of this size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from axonize_testsupport import free_port

from bench.measure import Figure
from bench.sizes import Sizes

RATE = 10_000  # spans per second
PROMPT = 512  # bytes of captured prompt per span (a short chat turn)

_CHILD = textwrap.dedent("""
    import json, os, sys, time
    import axonize

    rate, seconds, port, extra = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
    settings = json.loads(extra)
    axonize.init(endpoint=f"http://127.0.0.1:{port}", metrics=False, gpu_profiling=False,
                 **settings)
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    attrs = {"ai.model.name": "llama-3-8b", "http.route": "/v1/chat/completions",
             "user.id": "user-1234", "request.stream": True}
    def spans(first, n):
        for i in range(first, first + n):
            with axonize.llm_span(model="llama-3-8b", provider="vllm") as s:
                s.set_attributes(attrs)
                s.set_attribute("ai.llm.prompt", f"{i:012d}" + "x" * %(prompt)d)
                s.set_tokens_input(512)
                s.record_token(128)

    spans(0, 2000)  # warm up: code paths, the first failed exports
    time.sleep(1.0)
    idle = peak = rss()
    start = time.monotonic()
    made = 2000
    next_read = start
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = 2000 + int((now - start) * rate)
        if due > made:
            spans(made, due - made)
            made = due
        if now >= next_read:
            peak = max(peak, rss())
            next_read = now + 0.5
        time.sleep(0.002)
    peak = max(peak, rss())
    stats = axonize.stats()
    print(json.dumps({"idle": idle, "peak": peak, "made": made, **stats}), flush=True)
    os._exit(0)
""") % {"prompt": PROMPT}


def sdk_down(sizes: Sizes) -> list[Figure]:
    seconds = sizes.sdk_down_seconds
    bounded = _run(seconds, {})
    by_count = _run(seconds, {"max_queue_bytes": 1 << 40})
    mb = (bounded["peak"] - bounded["idle"]) / 2**20
    base_mb = (by_count["peak"] - by_count["idle"]) / 2**20
    return [Figure(
        "sdk_down_rss_mb", "MB", mb, base_mb,
        "the same process with the buffer bounded by span count alone (131,072 spans)",
        base_mb / mb if mb > 0 else float("nan"), "<= 64 MB",
        note=f"{RATE:,} LLM spans/s with a {PROMPT} B captured prompt for {seconds:.0f} s, "
             f"endpoint down; resident memory above the process before the outage; spans "
             f"buffered at the end: {bounded['buffered_spans']:,} (by count alone: "
             f"{by_count['buffered_spans']:,}), dropped and counted: "
             f"{bounded['dropped_spans']:,}")]


def _run(seconds: float, settings: dict[str, int]) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(RATE), str(seconds), str(free_port()),
         json.dumps(settings)], env=env, capture_output=True, text=True,
        timeout=seconds + 120, check=True)
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
