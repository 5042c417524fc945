"""In-process CPU time per span of the relay's processors (``python -m bench.relay_cpu``).

The machine is shared and noisy, so this measures thread CPU time (not wall time) of the
default processors, cost and secret redaction, on the request ``relay_spans_per_s`` sends
(:func:`bench.relay._request`), the variants alternated, and prints the minimum and the median
of each: as the relay runs them (``Pipeline.run_encoded``: the body spliced), as the backend does
(``Pipeline.run``: the decoded spans changed), redaction alone, and no processor (the decoding
and re-encoding every request pays).  Not a registered figure: a tool to compare code.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from axonize_collector.config import build_pipeline
from axonize_collector.pipeline import Pipeline

from axonize_core.otlp_wire import PROTOBUF, parse_traces
from bench.relay import BATCH, _request


def main(reps: int = 30) -> None:
    bodies = [_request(k) for k in range(8)]
    default, none = build_pipeline({}), Pipeline([])
    redaction = build_pipeline({"cost": {"enabled": False}})
    variants: dict[str, Callable[[bytes], object]] = {
        "no processor (decode, re-encode)": lambda b: none.run_encoded(
            parse_traces(b, PROTOBUF), b),
        "cost + secret redaction, relay": lambda b: default.run_encoded(
            parse_traces(b, PROTOBUF), b),
        "cost + secret redaction, backend": lambda b: default.run(parse_traces(b, PROTOBUF), b),
        "secret redaction alone, backend": lambda b: redaction.run(parse_traces(b, PROTOBUF), b),
    }
    took: dict[str, list[int]] = {k: [] for k in variants}
    for rep in range(reps):
        for name, fn in variants.items():
            body = bodies[rep % len(bodies)]
            t0 = time.thread_time_ns()
            fn(body)
            took[name].append(time.thread_time_ns() - t0)
    for name, ns in took.items():
        print(f"{name:36s} min {min(ns) / BATCH / 1e3:6.2f}   "
              f"median {statistics.median(ns) / BATCH / 1e3:6.2f} µs/span (CPU)")
    t0 = time.thread_time_ns()
    for _ in range(10**6):
        pass
    print(f"a bare loop iteration: {(time.thread_time_ns() - t0) / 1e6:.0f} ns")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
