"""The Ollama plugin: the real ``ollama`` client against a local server speaking the Ollama API.

Spans are asserted as whole spans captured in memory (axonize.testing).  Content tests use the
deterministic clock.  Timing tests use the real one: the server's first chunk comes after
FIRST_TOKEN_S and one chunk follows every TOKEN_S, so the times the spans report can be checked
against what the client really waited for.  The launcher tests assert what arrives over OTLP.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ollama = pytest.importorskip("ollama")
httpx = pytest.importorskip("httpx")

from axonize_ollama import OllamaInstrumentor  # noqa: E402
from axonize_testsupport.ollama_server import OllamaServer  # noqa: E402
from axonize_testsupport.otlp_sink import GrpcSink, attrs  # noqa: E402
from ollama._client import AsyncClient, Client  # noqa: E402

from axonize.testing import ANY_NUMBER, Capture  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
FIRST_TOKEN_S = 0.04
TOKEN_S = 0.005
ORIGINALS = (Client.__dict__["_request"], AsyncClient.__dict__["_request"])
QUESTION = [{"role": "user", "content": "why is the sky blue"}]
REAL_CLOCK = pytest.mark.axonize_capture(deterministic=False)
#: What the server measured: real time on its side, whatever Axonize's clock.
EMBED_SERVER_TIMES = {"ai.server.load_ms": ANY_NUMBER, "ai.server.total_ms": ANY_NUMBER}
SERVER_TIMES = {**EMBED_SERVER_TIMES, "ai.server.tokens_per_second": ANY_NUMBER,
                "ai.server.prefill_ms": ANY_NUMBER}


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaServer]:
    with OllamaServer(first_token_s=FIRST_TOKEN_S, token_s=TOKEN_S) as srv:
        yield srv


@pytest.fixture
def traced_ollama(axonize_capture: Capture) -> Iterator[Capture]:
    assert OllamaInstrumentor().instrument()
    yield axonize_capture
    OllamaInstrumentor().uninstrument()


def client_span(name: str, attributes: dict[str, Any], *, n: int = 1,
                times: tuple[int, int] | None = None, error: str = "",
                events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole span of one client call, the ``n``-th root of the test (``times``: start and end
    on the deterministic clock; ``error``: the status message of a failed call)."""
    span: dict[str, Any] = {
        "name": name, "kind": "CLIENT", "trace_id": n, "span_id": n, "parent_span_id": None,
        "attributes": attributes,
        "status": {"code": "ERROR" if error else "UNSET", "message": error},
        "events": events or [],
    }
    if times is not None:
        span["start_time"], span["end_time"] = times
    return span


def failed(exc: BaseException, type_name: str, at: int) -> dict[str, Any]:
    """Status message and exception event of a call that raised ``exc`` (event time ``at``)."""
    message = str(exc)
    return {"error": f"{type(exc).__name__}: {message}", "events": [{
        "name": "exception", "time": at, "attributes": {
            "exception.type": type_name, "exception.message": message,
            "exception.stacktrace": f"{type_name}: {message}".splitlines()[-1]}}]}


def ms(s: float) -> int:
    """A time on the deterministic clock, ``s`` readings (ms) after its start: a call's span
    starts and ends on the next readings; a stream's span starts again when it is first read,
    and each chunk reads the clock too."""
    return 1_000_000_000 + int(s * 1_000_000)


def duration_ms(span: Any) -> float:
    return float(span.end_time_unix_nano - span.start_time_unix_nano) / 1e6


def base(op: str, model: str, port: int) -> dict[str, Any]:
    return {"ai.operation.name": op, "gen_ai.operation.name": op,
            "ai.model.name": model, "gen_ai.request.model": model,
            "ai.model.provider": "ollama", "gen_ai.provider.name": "ollama",
            "server.address": "127.0.0.1", "server.port": port}


def usage(tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {"ai.llm.tokens.input": tokens_in, "gen_ai.usage.input_tokens": tokens_in,
            "ai.llm.tokens.output": tokens_out, "gen_ai.usage.output_tokens": tokens_out}


def finished(reason: str, model: str) -> dict[str, Any]:
    return {"ai.llm.finish_reasons": [reason], "gen_ai.response.finish_reasons": [reason],
            "ai.response.model": model, "gen_ai.response.model": model}


@REAL_CLOCK
def test_chat_is_one_client_span_with_the_servers_timings(traced_ollama: Capture,
                                                          server: OllamaServer) -> None:
    client = ollama.Client(host=server.host)
    reply = client.chat(model="tiny-llama", messages=QUESTION,
                        options={"temperature": 0.2, "top_p": 0.9, "seed": 7, "num_ctx": 512})
    (raw,) = traced_ollama.spans()
    assert traced_ollama.spans_as_dicts() == [client_span("chat tiny-llama", {
        **base("chat", "tiny-llama", server.port), **usage(5, 8),
        **finished("stop", "tiny-llama:latest"),
        "ai.llm.request.temperature": 0.2, "gen_ai.request.temperature": 0.2,
        "ai.llm.request.top_p": 0.9, "gen_ai.request.top_p": 0.9,
        "ai.llm.request.seed": 7, "gen_ai.request.seed": 7,
        "ai.llm.request.context_length": 512,
        # The server's own figures, exactly as it reported them.
        "ai.server.total_ms": reply.total_duration / 1e6,
        "ai.server.prefill_ms": reply.prompt_eval_duration / 1e6,
        "ai.server.load_ms": reply.load_duration / 1e6,
        "ai.server.tokens_per_second": pytest.approx(
            reply.eval_count / (reply.eval_duration / 1e9)),
        # Client side: the whole answer arrived at once, so tokens/s but no TTFT.
        "ai.llm.tokens_per_second": pytest.approx(8 / (duration_ms(raw) / 1000), rel=1e-6),
    })]
    assert duration_ms(raw) >= reply.total_duration / 1e6


def test_module_level_functions_are_traced(traced_ollama: Capture, server: OllamaServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # ollama.chat & co. are methods of a default Client bound when ollama was imported.
    default = ollama.chat.__self__
    monkeypatch.setattr(default, "_client", httpx.Client(base_url=server.host))
    ollama.generate(model="tiny-llama", prompt="hello there", options={"num_predict": 3})
    ollama.embed(model="tiny-embed", input="one")
    assert traced_ollama.spans_as_dicts() == [
        client_span("text_completion tiny-llama", {
            **base("text_completion", "tiny-llama", server.port), **usage(2, 3),
            **finished("length", "tiny-llama:latest"), **SERVER_TIMES,
            "ai.llm.request.max_tokens": 3, "gen_ai.request.max_tokens": 3,
            "ai.llm.tokens_per_second": 3000.0,  # 3 tokens in the 1 ms between start and end
        }, times=(ms(0), ms(1))),
        client_span("embeddings tiny-embed", {
            **base("embeddings", "tiny-embed", server.port), **EMBED_SERVER_TIMES,
            "ai.llm.tokens.input": 1, "gen_ai.usage.input_tokens": 1,
            "ai.embedding.inputs": 1, "ai.embedding.dimensions": 8,
            "gen_ai.embeddings.dimension.count": 8,
            "ai.response.model": "tiny-embed:latest", "gen_ai.response.model": "tiny-embed:latest",
        }, n=2, times=(ms(2), ms(3))),
    ]


@REAL_CLOCK
def test_stream_times_the_first_chunk_and_ends_with_the_last(traced_ollama: Capture,
                                                             server: OllamaServer) -> None:
    client = ollama.Client(host=server.host)
    t0 = time.perf_counter_ns()
    stream = client.chat(model="tiny-llama", messages=QUESTION, stream=True)
    seen = []
    for chunk in stream:
        seen.append((time.perf_counter_ns(), chunk.message.content))
    t_end = time.perf_counter_ns()
    (raw,) = traced_ollama.spans()
    (span,) = traced_ollama.spans_as_dicts()
    timed = span["attributes"]
    assert span == client_span("chat tiny-llama", {
        **base("chat", "tiny-llama", server.port), **usage(5, 8),
        **finished("stop", "tiny-llama:latest"), **SERVER_TIMES,
        "ai.llm.stream": True, "ai.llm.stream.end": "complete",
        "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tokens_per_second": ANY_NUMBER,
        "ai.llm.tpot_ms": ANY_NUMBER, "ai.llm.token_gap_ms.max": ANY_NUMBER,
    })
    # What the user saw: text chunks, then the final empty chunk with the figures.
    assert [text for _, text in seen][-1] == "" and all(t for _, t in seen[:-1])
    first_chunk_ms = (seen[0][0] - t0) / 1e6
    assert FIRST_TOKEN_S * 1000 <= timed["ai.llm.ttft_ms"] <= first_chunk_ms
    # The span covers the stream up to its last chunk, not only the call that created it.
    assert (seen[-1][0] - t0) / 1e6 - 5 <= duration_ms(raw) <= (t_end - t0) / 1e6
    assert timed["ai.llm.tpot_ms"] == pytest.approx(
        (duration_ms(raw) - timed["ai.llm.ttft_ms"]) / 7, rel=1e-3)
    assert timed["ai.llm.token_gap_ms.max"] >= TOKEN_S * 1000


@REAL_CLOCK
def test_a_stream_held_before_reading_does_not_count_the_wait(traced_ollama: Capture,
                                                              server: OllamaServer) -> None:
    client = ollama.Client(host=server.host)
    stream = client.generate(model="tiny-llama", prompt="hello", stream=True)
    time.sleep(0.3)  # the request is sent only when the stream is first read
    t_read = time.time_ns()
    text = "".join(chunk.response for chunk in stream)
    (raw,) = traced_ollama.spans()
    ttft = traced_ollama.spans_as_dicts()[0]["attributes"]["ai.llm.ttft_ms"]
    assert text.startswith("The sky is blue")
    assert raw.start_time_unix_nano >= t_read - 1_000_000
    assert FIRST_TOKEN_S * 1000 <= ttft < 300


def test_output_tokens_are_the_servers_count_not_the_chunk_count(
        axonize_capture: Capture) -> None:
    assert OllamaInstrumentor().instrument()
    try:
        with OllamaServer(tokens_per_chunk=2) as srv:
            chunks = list(ollama.Client(host=srv.host).chat(
                model="tiny-llama", messages=QUESTION, stream=True))
    finally:
        OllamaInstrumentor().uninstrument()
    assert len(chunks) == 9 and chunks[-1].eval_count == 16
    assert axonize_capture.spans_as_dicts() == [client_span("chat tiny-llama", {
        **base("chat", "tiny-llama", srv.port), **usage(5, 16),
        **finished("stop", "tiny-llama:latest"), **SERVER_TIMES,
        "ai.llm.stream": True, "ai.llm.stream.end": "complete",
        "ai.llm.ttft_ms": 2.0, "ai.llm.token_gap_ms.max": 2.0,
        "ai.llm.tokens_per_second": 16 / 0.011,  # 16 tokens in 11 ms
        "ai.llm.tpot_ms": 9 / 15,  # 9 ms after the first chunk, for 15 more tokens
    }, times=(ms(1), ms(12)))]


def test_a_stream_closed_early_ends_its_span_as_closed(traced_ollama: Capture,
                                                       server: OllamaServer) -> None:
    client = ollama.Client(host=server.host)
    stream = client.chat(model="tiny-llama", messages=QUESTION, stream=True)
    got = [next(stream).message.content, next(stream).message.content]
    stream.close()
    assert got == ["The", " sky"]
    assert traced_ollama.spans_as_dicts() == [client_span("chat tiny-llama", {
        **base("chat", "tiny-llama", server.port),
        "ai.llm.tokens.output": 2, "gen_ai.usage.output_tokens": 2,
        "ai.llm.stream": True, "ai.llm.stream.end": "closed",
        "ai.llm.ttft_ms": 2.0, "ai.llm.token_gap_ms.max": 2.0,
        "ai.llm.tokens_per_second": 500.0, "ai.llm.tpot_ms": 2.0,
    }, times=(ms(1), ms(5)))]


@REAL_CLOCK
def test_concurrent_async_calls_each_get_their_own_numbers(traced_ollama: Capture,
                                                           server: OllamaServer) -> None:
    async def run() -> list[str]:
        client = ollama.AsyncClient(host=server.host)

        async def streamed(n: int) -> str:
            parts = []
            async for chunk in await client.chat(model="tiny-llama", messages=QUESTION,
                                                 stream=True, options={"num_predict": n}):
                parts.append(chunk.message.content)
            return "".join(parts)

        async def whole(n: int) -> str:
            reply = await client.generate(model="tiny-llama", prompt="count",
                                          options={"num_predict": n})
            return str(reply.response)

        return list(await asyncio.gather(streamed(2), streamed(5), whole(3), streamed(7)))

    texts = asyncio.run(run())
    assert [len(t.split()) for t in texts] == [2, 5, 3, 7]
    raw = {attrs(s.attributes)["ai.llm.tokens.output"]: s for s in traced_ollama.spans()}
    spans = traced_ollama.spans_as_dicts()
    by_tokens = {s["attributes"]["ai.llm.tokens.output"]: s for s in spans}
    assert sorted(by_tokens) == [2, 3, 5, 7]
    for n, span in by_tokens.items():
        model_call = "chat" if n != 3 else "text_completion"
        stream = {"ai.llm.stream": True, "ai.llm.stream.end": "complete",
                  "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tpot_ms": ANY_NUMBER,
                  "ai.llm.token_gap_ms.max": ANY_NUMBER} if n != 3 else {}
        assert span == client_span(f"{model_call} tiny-llama", {
            **base(model_call, "tiny-llama", server.port),
            **usage(5 if n != 3 else 1, n), **finished("length", "tiny-llama:latest"),
            **SERVER_TIMES, **stream,
            "ai.llm.request.max_tokens": n, "gen_ai.request.max_tokens": n,
            "ai.llm.tokens_per_second": ANY_NUMBER,
        }, n=span["span_id"])
        if n != 3:
            ttft = span["attributes"]["ai.llm.ttft_ms"]
            assert FIRST_TOKEN_S * 1000 <= ttft < duration_ms(raw[n])
            # Each stream's span lasts as long as its own chunks took, not its neighbours'.
            assert duration_ms(raw[n]) >= FIRST_TOKEN_S * 1000 + (n - 1) * TOKEN_S * 1000
    assert sorted(s["trace_id"] for s in spans) == [1, 2, 3, 4]  # concurrent roots, not nested


def test_async_stream_closed_early_and_embed(traced_ollama: Capture,
                                             server: OllamaServer) -> None:
    async def run() -> tuple[str, int]:
        client = ollama.AsyncClient(host=server.host)
        stream = await client.generate(model="tiny-llama", prompt="hi", stream=True)
        first = await stream.__anext__()
        await stream.aclose()
        vectors = await client.embed(model="tiny-embed", input=["a", "b", "c"])
        return first.response, len(vectors.embeddings)

    assert asyncio.run(run()) == ("The", 3)
    assert traced_ollama.spans_as_dicts() == [
        client_span("text_completion tiny-llama", {
            **base("text_completion", "tiny-llama", server.port),
            "ai.llm.tokens.output": 1, "gen_ai.usage.output_tokens": 1,
            "ai.llm.stream": True, "ai.llm.stream.end": "closed",
            "ai.llm.ttft_ms": 2.0, "ai.llm.tokens_per_second": 1 / 0.003,
        }, times=(ms(1), ms(4))),
        client_span("embeddings tiny-embed", {
            **base("embeddings", "tiny-embed", server.port), **EMBED_SERVER_TIMES,
            "ai.llm.tokens.input": 3, "gen_ai.usage.input_tokens": 3,
            "ai.embedding.inputs": 3, "ai.embedding.dimensions": 8,
            "gen_ai.embeddings.dimension.count": 8,
            "ai.response.model": "tiny-embed:latest",
            "gen_ai.response.model": "tiny-embed:latest",
        }, n=2, times=(ms(5), ms(6))),
    ]


def test_the_older_embeddings_call(traced_ollama: Capture, server: OllamaServer) -> None:
    vector = ollama.Client(host=server.host).embeddings(model="tiny-embed", prompt="x")
    assert len(vector.embedding) == 8
    assert traced_ollama.spans_as_dicts() == [client_span("embeddings tiny-embed", {
        **base("embeddings", "tiny-embed", server.port),
        "ai.embedding.inputs": 1, "ai.embedding.dimensions": 8,
        "gen_ai.embeddings.dimension.count": 8,
    }, times=(ms(0), ms(1)))]


def test_tool_calls_are_recorded_by_name(traced_ollama: Capture, server: OllamaServer) -> None:
    tool = {"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    reply = ollama.Client(host=server.host).chat(model="tiny-llama", messages=QUESTION,
                                                 tools=[tool])
    assert reply.message.tool_calls[0].function.arguments == {"city": "Paris"}
    # No ai.llm.prompt / ai.llm.completion: content capture is off.
    assert traced_ollama.spans_as_dicts() == [client_span("chat tiny-llama", {
        **base("chat", "tiny-llama", server.port), **usage(5, 8),
        **finished("stop", "tiny-llama:latest"), **SERVER_TIMES,
        "ai.llm.tokens_per_second": 8000.0,
        "ai.llm.tool_calls": ["get_weather"],
    }, times=(ms(0), ms(1)))]


@pytest.fixture
def content_capture_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXONIZE_CAPTURE_CONTENT", "true")  # before the capture's axonize.init


def test_content_capture_records_prompt_and_answer(content_capture_on: None,
                                                   traced_ollama: Capture,
                                                   server: OllamaServer) -> None:
    client = ollama.Client(host=server.host)
    client.chat(model="tiny-llama", messages=QUESTION)
    "".join(c.response for c in client.generate(model="tiny-llama", prompt="sky?", stream=True))
    answer = "The sky is blue because of Rayleigh scattering"
    assert traced_ollama.spans_as_dicts() == [
        client_span("chat tiny-llama", {
            **base("chat", "tiny-llama", server.port), **usage(5, 8),
            **finished("stop", "tiny-llama:latest"), **SERVER_TIMES,
            "ai.llm.tokens_per_second": 8000.0,
            "ai.llm.prompt": "user: why is the sky blue", "ai.llm.completion": answer,
        }, times=(ms(0), ms(1))),
        client_span("text_completion tiny-llama", {
            **base("text_completion", "tiny-llama", server.port), **usage(1, 8),
            **finished("stop", "tiny-llama:latest"), **SERVER_TIMES,
            "ai.llm.stream": True, "ai.llm.stream.end": "complete",
            "ai.llm.ttft_ms": 2.0, "ai.llm.token_gap_ms.max": 2.0,
            "ai.llm.tokens_per_second": 8 / 0.011, "ai.llm.tpot_ms": 9 / 7,
            "ai.llm.prompt": "sky?", "ai.llm.completion": answer,
        }, n=2, times=(ms(3), ms(14))),
    ]


@pytest.mark.parametrize(("model", "status", "message"), [
    ("not-pulled", 404, 'model "not-pulled" not found, try pulling it first'),
    ("crash", 500, "llama runner process has terminated: exit status 2"),
])
def test_server_errors_mark_the_span_and_reach_the_caller(
        traced_ollama: Capture, server: OllamaServer, model: str, status: int,
        message: str) -> None:
    client = ollama.Client(host=server.host)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=model, messages=QUESTION)
    with pytest.raises(ollama.ResponseError) as caught_stream:
        list(client.chat(model=model, messages=QUESTION, stream=True))
    assert (caught.value.status_code, caught.value.error) == (status, message)
    assert (caught_stream.value.status_code, caught_stream.value.error) == (status, message)
    assert message in str(caught.value)
    error = {**base("chat", model, server.port), "http.response.status_code": status,
             "error.type": "ollama._types.ResponseError"}
    assert traced_ollama.spans_as_dicts() == [
        client_span(f"chat {model}", error, times=(ms(0), ms(2)),
                    **failed(caught.value, "ollama._types.ResponseError", ms(1))),
        client_span(f"chat {model}", {**error, "ai.llm.stream": True,
                                      "ai.llm.stream.end": "error"},
                    n=2, times=(ms(4), ms(6)),
                    **failed(caught_stream.value, "ollama._types.ResponseError", ms(5))),
    ]


def test_an_error_in_the_middle_of_a_stream(traced_ollama: Capture,
                                            server: OllamaServer) -> None:
    got = []
    with pytest.raises(ollama.ResponseError, match="error was encountered") as caught:
        for chunk in ollama.Client(host=server.host).chat(model="fail-midstream",
                                                          messages=QUESTION, stream=True):
            got.append(chunk.message.content)
    assert got == ["The", " sky"]
    assert traced_ollama.spans_as_dicts() == [client_span("chat fail-midstream", {
        **base("chat", "fail-midstream", server.port),
        "ai.llm.tokens.output": 2, "gen_ai.usage.output_tokens": 2,
        "ai.llm.stream": True, "ai.llm.stream.end": "error",
        "error.type": "ollama._types.ResponseError",
        "ai.llm.ttft_ms": 2.0, "ai.llm.token_gap_ms.max": 2.0,
        "ai.llm.tokens_per_second": 400.0, "ai.llm.tpot_ms": 3.0,
    }, times=(ms(1), ms(6)), **failed(caught.value, "ollama._types.ResponseError", ms(5)))]


def test_connection_refused_and_timeouts_reach_the_caller(traced_ollama: Capture,
                                                          server: OllamaServer) -> None:
    from axonize_testsupport import free_port

    port = free_port()
    # ollama >= 0.4.7 turns httpx's ConnectError into ConnectionError; older releases do not.
    with pytest.raises((ConnectionError, httpx.ConnectError)) as refused:
        ollama.Client(host=f"127.0.0.1:{port}").chat(model="tiny-llama", messages=QUESTION)
    with pytest.raises(httpx.ReadTimeout) as timed_out:
        ollama.Client(host=server.host, timeout=0.2).chat(model="stall", messages=QUESTION)
    refused_type = ("ConnectionError" if refused.type is ConnectionError
                    else "httpx.ConnectError")
    assert traced_ollama.spans_as_dicts() == [
        client_span("chat tiny-llama", {**base("chat", "tiny-llama", port),
                                        "error.type": refused_type},
                    times=(ms(0), ms(2)), **failed(refused.value, refused_type, ms(1))),
        client_span("chat stall", {**base("chat", "stall", server.port),
                                   "error.type": "httpx.ReadTimeout"},
                    n=2, times=(ms(3), ms(5)),
                    **failed(timed_out.value, "httpx.ReadTimeout", ms(4))),
    ]


def test_other_calls_pass_through_without_spans(traced_ollama: Capture,
                                                server: OllamaServer) -> None:
    client = ollama.Client(host=server.host)
    assert "tiny-llama:latest" in [m.model for m in client.list().models]
    client.embed(model="tiny-embed", input="x")
    assert traced_ollama.spans_as_dicts() == [client_span("embeddings tiny-embed", {
        **base("embeddings", "tiny-embed", server.port), **EMBED_SERVER_TIMES,
        "ai.llm.tokens.input": 1, "gen_ai.usage.input_tokens": 1,
        "ai.embedding.inputs": 1, "ai.embedding.dimensions": 8,
        "gen_ai.embeddings.dimension.count": 8,
        "ai.response.model": "tiny-embed:latest", "gen_ai.response.model": "tiny-embed:latest",
    }, times=(ms(0), ms(1)))]


def test_uninstrument_restores_the_client(axonize_capture: Capture,
                                          server: OllamaServer) -> None:
    instrumentor = OllamaInstrumentor()
    assert instrumentor.instrument()
    assert Client.__dict__["_request"] is not ORIGINALS[0]
    instrumentor.uninstrument()
    assert (Client.__dict__["_request"], AsyncClient.__dict__["_request"]) == ORIGINALS
    ollama.Client(host=server.host).chat(model="tiny-llama", messages=QUESTION)
    assert axonize_capture.spans() == []


def test_example_runs_under_the_launcher(sink: GrpcSink) -> None:
    """examples/ollama_integration.py, unchanged, under axonize-instrument: module-level
    functions, Client, streaming, embed and concurrent AsyncClient calls all arrive."""
    with OllamaServer(first_token_s=0.01, token_s=0.001) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
        env.update({"OLLAMA_HOST": f"127.0.0.1:{srv.port}", "AXONIZE_ENDPOINT": sink.endpoint,
                    "AXONIZE_SERVICE_NAME": "ollama-example", "AXONIZE_PLUGINS": "ollama"})
        launcher = Path(sys.executable).with_name("axonize-instrument")
        done = subprocess.run([str(launcher), sys.executable, "examples/ollama_integration.py"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "stream: The sky is blue" in done.stdout
    spans = sink.wait_for_spans(6)
    names = sorted(s.name for s in spans)
    assert names == ["chat llama3.2", "chat llama3.2", "embeddings all-minilm",
                     "text_completion llama3.2", "text_completion llama3.2",
                     "text_completion llama3.2"]
    stream = next(s for s in spans if "ai.llm.stream" in attrs(s.attributes))
    assert attrs(stream.attributes)["ai.llm.tokens.output"] == 8


def test_example_says_what_to_do_without_a_server() -> None:
    from axonize_testsupport import free_port

    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "examples/ollama_integration.py"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "No Ollama server answers" in done.stderr and "ollama serve" in done.stderr
