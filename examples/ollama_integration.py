"""A plain Ollama client program: not one line of Axonize in it.

    axonize-instrument --exporter console python examples/ollama_integration.py

The Ollama plugin patches the client at import; every call below (module-level functions,
``Client``, ``AsyncClient``, streamed or not) gets a span with time to first token, tokens/s,
token counts and the server's own timings.  It talks to ``OLLAMA_HOST`` (default
``127.0.0.1:11434``) with the models in ``OLLAMA_MODEL`` (default ``llama3.2``) and
``OLLAMA_EMBED_MODEL`` (default ``all-minilm``).  With no Ollama at hand, the stand-in server of
the test suite speaks the same API:  ``python -m axonize_testsupport.ollama_server
--first-token-ms 40 --token-ms 10`` prints a port; ``OLLAMA_HOST=127.0.0.1:PORT`` points the
example at it.
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import ollama

MODEL = os.environ.get("OLLAMA_MODEL", "llama3.2")
EMBED_MODEL = os.environ.get("OLLAMA_EMBED_MODEL", "all-minilm")
QUESTION = [{"role": "user", "content": "Why is the sky blue? One sentence."}]


def main() -> int:
    try:
        ollama.list()
    except (ConnectionError, httpx.ConnectError):  # (older clients raise httpx's error)
        host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
        print(f"No Ollama server answers at {host}. Start one (`ollama serve`), or point "
              "OLLAMA_HOST at one; the tests' stand-in works too (from a checkout, "
              "pip install -e testsupport): python -m axonize_testsupport.ollama_server",
              file=sys.stderr)
        return 2

    # 1. The module-level function, whole answer at once.
    answer = ollama.chat(model=MODEL, messages=QUESTION, options={"temperature": 0.2})
    print("chat:", answer.message.content)

    # 2. A client, streamed: the span's TTFT is when the first chunk arrived.
    client = ollama.Client()
    print("stream: ", end="", flush=True)
    for chunk in client.chat(model=MODEL, messages=QUESTION, stream=True):
        print(chunk.message.content, end="", flush=True)
    print()

    # 3. Embeddings.
    vectors = client.embed(model=EMBED_MODEL, input=["time to first token", "tokens/s"])
    print(f"embed: {len(vectors.embeddings)} vectors of {len(vectors.embeddings[0])} dims")

    # 4. Concurrent async calls: each span carries its own numbers.
    async def three_at_once() -> list[str]:
        aclient = ollama.AsyncClient()
        replies = await asyncio.gather(*(
            aclient.generate(model=MODEL, prompt=f"Count to {n}.", options={"num_predict": n})
            for n in (2, 4, 6)))
        return [r.response for r in replies]

    for text in asyncio.run(three_at_once()):
        print("async:", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
