"""``hf_generate_overhead``: tokens/s of greedy generate on a tiny local Llama, with the
transformers plugin active and not, alternating in one process."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.measure import Figure
from bench.sizes import Sizes

NEW_TOKENS = 32
CALLS = 5  # generate calls per measurement


def hf_generate(sizes: Sizes) -> list[Figure]:
    import torch
    from axonize_testsupport import tiny_models
    from axonize_transformers import TransformersInstrumentor

    import axonize

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model, tok = tiny_models.load(tiny_models.build_llama(Path(tmp) / "tiny-llama"))
    enc = tok("hello world", return_tensors="pt")
    inst = TransformersInstrumentor()
    axonize.init(exporter="none", metrics=True)

    def tokens_per_s(calls: int) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            model.generate(**enc, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                           do_sample=False)
        return calls * NEW_TOKENS / (time.perf_counter() - t0)

    with torch.inference_mode():
        tokens_per_s(3)  # warm up
        plain, traced = [], []
        for _ in range(sizes.hf_trials):
            inst.uninstrument()
            plain.append(tokens_per_s(CALLS))
            inst.instrument()
            traced.append(tokens_per_s(CALLS))
    inst.uninstrument()
    axonize.shutdown(10)
    ax, base = statistics.median(traced), statistics.median(plain)
    # Reported as slowdown: baseline tokens/s over instrumented tokens/s (1.00 = no cost).
    return [Figure("hf_generate_overhead", "x", base / ax, 1.0,
                   "uninstrumented transformers generate, same process", base / ax,
                   "<= 1.02 (at most 2% slower)",
                   note=f"tiny Llama, greedy, {NEW_TOKENS} new tokens: {ax:,.0f} tok/s traced, "
                        f"{base:,.0f} tok/s plain")]
