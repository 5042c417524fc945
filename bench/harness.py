"""Measure the README's figures, each against its baseline in the same run.

Each figure is the median of repeated trials.  Caller-thread costs are CPU time of the calling
thread (time.thread_time_ns) over bursts of spans, with the exporter thread idle during the
burst and a flush between bursts, for Axonize and the OTel SDK alike, their trials alternating;
GC stays on, as in a real program.  End-to-end export goes over loopback gRPC to an OTLP sink in
a separate process that decodes and counts every span.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bench import (
    backend,
    caller,
    dashboard,
    diffusers,
    export,
    faults,
    gpu,
    hf_generate,
    ollama,
    prometheus,
    relay,
    sdk_down,
    threads,
    vllm,
)
from bench.measure import Figure
from bench.report import print_table, write_json, write_readme
from bench.sizes import FULL, QUICK, SMOKE, Sizes


@dataclass(frozen=True)
class Group:
    run: Callable[[Sizes], list[Figure]]
    what: str


# In the order they run (the order of the README's table).
GROUPS = {
    "span": Group(caller.span, "span_ns, span_8attrs_ns: caller CPU of a span, plain and "
                               "with 8 attributes, vs the OTel SDK"),
    "record_token": Group(caller.record_token, "record_token_ns: one streamed token vs an "
                                               "OTel span event"),
    "sampled": Group(caller.sampled, "sampled_span_ns@0.01, @0.1: a root span under head "
                                     "sampling vs OTel's ParentBased(TraceIdRatioBased)"),
    "memory": Group(caller.memory, "buffered_bytes_per_span: what a finished span holds until "
                                   "it is exported, vs OTel's ReadableSpan"),
    "hf_generate": Group(hf_generate.hf_generate, "hf_generate_overhead: transformers "
                                                  "generate on a tiny Llama, plugin on vs off"),
    "gpu": Group(gpu.gpu, "set_gpus_span_ns, gpu_sampler_cpu_pct: the GPU profiler on 8 "
                          "simulated H100s"),
    "backend": Group(backend.backend, "ingest_spans_per_s, storage_bytes_per_span, api_p99_ms: "
                                      "axonize-server on its embedded stores"),
    "faults": Group(faults.faults, "fault_acked_lost, fuzz_5xx, bomb_peak_rss_mb: "
                                   "axonize-server under kill -9, mutated requests, a gzip bomb"),
    "ollama": Group(ollama.ollama, "ollama_call_overhead_us, ollama_stream_overhead_us: the "
                                   "ollama client traced by Axonize vs OpenLLMetry"),
    "export": Group(export.export, "export_spans_per_s, burst_dropped_spans: end to end over "
                                   "gRPC to a sink in another process, vs the OTel SDK"),
    "threads": Group(threads.threads, "thread_start_overhead_us: carrying the current span into "
                                      "a new thread or pool task, hook on vs off"),
    "sdk_down": Group(sdk_down.sdk_down, "sdk_down_rss_mb: memory a dead endpoint costs a "
                                         "process making 10k LLM spans/s"),
    "diffusers": Group(diffusers.diffusers, "diffusers_step_overhead_us: time the Diffusers "
                                            "plugin adds to each denoising step"),
    "dashboard": Group(dashboard.dashboard, "dashboard_trace_render_ms, "
                                            "dashboard_traces_paint_ms: the dashboard in "
                                            "headless Chromium (skipped without it)"),
    "relay": Group(relay.relay, "relay_spans_per_s, relay_down_rss_mb: axonize-collector's "
                                "throughput (cost + redaction) and its memory with the "
                                "destination down"),
    "prometheus": Group(prometheus.prometheus, "metrics_scrape_ms, backend_metrics_scrape_ms, "
                                               "prometheus_span_ns: /metrics with 1,000 "
                                               "series; span_ns with the exporter on vs off"),
    "vllm": Group(vllm.vllm, "vllm_overhead, vllm_request_overhead_us: offline vLLM generate "
                             "on a tiny Llama, plugin on vs off (skipped without vllm: nox -s "
                             "bench_vllm)"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    width = max(map(len, GROUPS))
    groups = "\n".join(textwrap.fill(g.what, 96, initial_indent=f"  {name:<{width}}  ",
                                      subsequent_indent=" " * (width + 4))
                       for name, g in GROUPS.items())
    status = textwrap.fill(
        "Exit status: 0 when every group ran, 1 when one failed (its traceback is printed and "
        "the other groups still run). No figure is checked against its target: the targets "
        "are printed for people to read.", 96)
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"figure groups (for --only), in the order they run:\n{groups}\n\n{status}")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="fewer trials and smaller loads, same method (a few minutes "
                           "instead of the full run's tens of minutes); figures are noisier")
    size.add_argument("--smoke", action="store_true",
                      help="every group end to end at tiny sizes, to check that the bench "
                           "works (what CI runs); the figures mean nothing")
    parser.add_argument("--only", metavar="GROUP[,GROUP...]", type=_groups,
                        help="run only these figure groups (names below); default: all")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the figures as JSON: {\"figures\": [{name, unit, "
                             "axonize, baseline, baseline_name, ratio, target, note}, ...], "
                             "\"machine\": {cpus, python}}; NaN is written as null. Written "
                             "even when a group failed, with the figures that were measured")
    parser.add_argument("--readme", metavar="FILE",
                        help="rewrite the table between the <!-- BEGIN BENCH --> and "
                             "<!-- END BENCH --> markers of FILE (e.g. README.md) with the "
                             "figures (with --only: only the rows of the figures measured, the "
                             "others kept); not written when a group failed")
    args = parser.parse_args(argv)
    if args.readme and args.smoke:
        parser.error("--readme with --smoke would publish figures that mean nothing")
    return args


def _groups(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown figure group(s) {', '.join(unknown) or repr(value)}; "
            f"choose from {', '.join(GROUPS)}")
    return names


def run_groups(names: list[str], sizes: Sizes) -> tuple[list[Figure], list[str]]:
    """Run the groups in ``GROUPS`` order; return their figures and the names of those that
    failed."""
    figures: list[Figure] = []
    failed: list[str] = []
    for name in (n for n in GROUPS if n in names):
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            figures.extend(GROUPS[name].run(sizes))
        except Exception:
            traceback.print_exc()
            print(f"  {name} FAILED", file=sys.stderr, flush=True)
            failed.append(name)
            _reset()
        else:
            print(f"  {name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return figures, failed


def _reset() -> None:
    """After a failed group: shut down what it may have left running, for the next group."""
    try:
        import axonize

        axonize.shutdown(10)
    except Exception:
        traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    figures, failed = run_groups(args.only or list(GROUPS), sizes)
    print_table(figures)
    if args.json:
        write_json(args.json, figures)
    if failed:
        print(f"failed: {', '.join(failed)}" + (f" ({args.readme} left as it was)"
                                                 if args.readme else ""), file=sys.stderr)
        return 1
    if args.readme:
        write_readme(args.readme, figures, keep_others=args.only is not None)
    return 0
