"""Quickstart: trace a (toy) streaming LLM service with Axonize.

Runs anywhere, no model download: a tiny bigram "model" built from a few sentences streams tokens
with a realistic prefill pause and per-token pace.  Every request gets a trace with TTFT,
tokens/s and TPOT; one request fails on purpose to show error spans.

    AXONIZE_EXPORTER=console python examples/quickstart.py      # readable lines on stderr
    AXONIZE_EXPORTER=file AXONIZE_FILE_PATH=spans.jsonl python examples/quickstart.py
    python -m axonize summary spans.jsonl                          # trace trees + per model
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 python examples/quickstart.py

With no GPU here, ``AXONIZE_GPU_BACKEND=simulated`` attributes the spans to a simulated H100
(``nox -s demo`` does this), so that GPU utilization, energy and cost show up as on a real one.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from collections.abc import Iterator

import axonize

CORPUS = (
    "the model reads the prompt and writes the answer one token at a time . "
    "the answer streams to the user while the gpu works . "
    "time to first token is what the user feels first ."
)


class TinyBigramModel:
    """A word-bigram sampler standing in for an LLM (so the example needs no weights)."""

    def __init__(self, name: str, text: str, seed: int = 0) -> None:
        self.name = name
        self.rng = random.Random(seed)
        self.next_words: dict[str, list[str]] = defaultdict(list)
        words = text.split()
        for a, b in itertools.pairwise(words):
            self.next_words[a].append(b)

    @axonize.trace(name="tokenize")
    def tokenize(self, prompt: str) -> list[str]:
        return prompt.lower().split()

    def stream(self, prompt: list[str], max_tokens: int) -> Iterator[str]:
        time.sleep(0.002 * len(prompt))  # prefill
        word = prompt[-1] if prompt and prompt[-1] in self.next_words else "the"
        for _ in range(max_tokens):
            time.sleep(0.001)  # one decode step
            word = self.rng.choice(self.next_words.get(word) or ["."])
            yield word
            if word == ".":
                return


MODELS = {name: TinyBigramModel(name, CORPUS, seed) for seed, name in
          enumerate(["tiny-bigram-a", "tiny-bigram-b"])}


def handle_request(prompt: str, model_name: str, max_tokens: int = 24) -> str:
    with axonize.span("POST /v1/completions", {"http.route": "/v1/completions"}):
        model = MODELS[model_name]
        tokens = model.tokenize(prompt)
        with axonize.llm_span(model=model_name, provider="quickstart") as llm:
            llm.set_gpus("cuda:0")  # where the model runs: the GPU profiler fills in gpu.0.*
            llm.set_tokens_input(len(tokens))
            llm.set_attribute("ai.llm.request.max_tokens", max_tokens)
            llm.set_attribute("ai.llm.stream", True)
            out = []
            for word in model.stream(tokens, max_tokens):
                llm.record_token()
                out.append(word)
            llm.set_attribute("ai.llm.finish_reasons", ["stop" if out[-1:] == ["."]
                                                        else "length"])
        return " ".join(out)


async def handle_async(prompt: str, model_name: str) -> str:
    return await asyncio.to_thread(handle_request, prompt, model_name)


def main() -> None:
    # Settings come from the environment (OTEL_* / AXONIZE_*); keyword arguments win.
    axonize.init(service_name="quickstart")
    prompts = ["The model reads", "Time to first token", "the answer streams"]
    for prompt in prompts:
        print(f"> {prompt!r} -> {handle_request(prompt, 'tiny-bigram-a')!r}")

    async def concurrent() -> list[str]:
        return await asyncio.gather(*(handle_async(p, "tiny-bigram-b") for p in prompts))

    for text in asyncio.run(concurrent()):
        print(f"> (concurrent) {text!r}")
    try:
        handle_request("unknown model", "tiny-bigram-z")
    except KeyError as exc:
        print(f"> failed as expected: model {exc} is not loaded (see the ERROR span)")
    axonize.shutdown()
    stats = axonize.stats()
    print(f"done; dropped spans: {stats['dropped_spans']}")


if __name__ == "__main__":
    main()
