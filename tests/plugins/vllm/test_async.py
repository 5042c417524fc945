"""The vLLM plugin on ``AsyncLLM`` (the engine of ``vllm serve``): one span per streamed request.

``AsyncLLM`` runs its engine core in a subprocess; one engine and one event loop serve the
module (the engine's output handler belongs to the loop that first used it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

vllm = pytest.importorskip("vllm")

from axonize_testsupport.vllm_models import ENGINE_ARGS, build_vllm_llama  # noqa: E402
from axonize_vllm import VllmInstrumentor  # noqa: E402
from vllm import SamplingParams  # noqa: E402
from vllm.engine.arg_utils import AsyncEngineArgs  # noqa: E402
from vllm.sampling_params import RequestOutputKind  # noqa: E402
from vllm.v1.engine.async_llm import AsyncLLM  # noqa: E402
from vllm.v1.metrics.stats import RequestStateStats  # noqa: E402

from axonize.testing import ANY_NUMBER, Capture, capture  # noqa: E402

# vLLM counts preemptions per request from 0.28 on.
PREEMPTIONS = {"ai.server.preemptions": 0} if hasattr(
    RequestStateStats(), "num_preemptions") else {}

pytestmark = [pytest.mark.axonize_capture(deterministic=False), pytest.mark.timeout(300)]


class Engine:
    def __init__(self, engine: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.model = engine.model_config.served_model_name

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    import torch

    torch.set_num_threads(1)
    model = build_vllm_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
    loop = asyncio.new_event_loop()
    with capture(deterministic=False):
        assert VllmInstrumentor().instrument()
        args = AsyncEngineArgs(model=str(model), **ENGINE_ARGS)
        async_llm = loop.run_until_complete(_create(args))
    try:
        yield Engine(async_llm, loop)
    finally:
        async_llm.shutdown()
        pending = asyncio.all_tasks(loop)  # the engine's output handler, cancelled by shutdown
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        VllmInstrumentor().uninstrument()


async def _create(args: AsyncEngineArgs) -> Any:
    return AsyncLLM.from_engine_args(args)


def server_spans(cap: Capture) -> list[dict[str, Any]]:
    return [s for s in cap.spans_as_dicts() if s["kind"] == "SERVER"]


def streamed_span(model: str, request_id: str, tokens_in: int, tokens_out: int,
                  max_tokens: int, end: str, finish: str) -> dict[str, Any]:
    return {
        "name": f"text_completion {model}", "kind": "SERVER",
        "trace_id": ANY_NUMBER, "span_id": ANY_NUMBER, "parent_span_id": None,
        "attributes": {
            "ai.operation.name": "text_completion", "gen_ai.operation.name": "text_completion",
            "ai.model.name": model, "gen_ai.request.model": model,
            "ai.model.provider": "vllm", "gen_ai.provider.name": "vllm",
            "ai.request.id": request_id,
            "ai.llm.tokens.input": tokens_in, "gen_ai.usage.input_tokens": tokens_in,
            "ai.llm.tokens.output": tokens_out, "gen_ai.usage.output_tokens": tokens_out,
            "ai.llm.tokens.cached_input": ANY_NUMBER,
            "gen_ai.usage.cache_read.input_tokens": ANY_NUMBER,
            "ai.llm.request.max_tokens": max_tokens, "gen_ai.request.max_tokens": max_tokens,
            "ai.llm.request.temperature": 0, "gen_ai.request.temperature": 0,
            "ai.llm.request.top_p": 1.0, "gen_ai.request.top_p": 1.0,
            "ai.llm.request.choice_count": 1, "gen_ai.request.choice.count": 1,
            "ai.llm.stream": True, "ai.llm.stream.end": end,
            "ai.llm.finish_reasons": [finish], "gen_ai.response.finish_reasons": [finish],
            # Client side: first output as the caller saw it; engine side: its own figures.
            "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tpot_ms": ANY_NUMBER,
            "ai.llm.tokens_per_second": ANY_NUMBER, "ai.server.tokens_per_second": ANY_NUMBER,
            "ai.server.ttft_ms": ANY_NUMBER, "ai.server.queue_ms": ANY_NUMBER,
            "ai.server.prefill_ms": ANY_NUMBER, "ai.server.decode_ms": ANY_NUMBER,
            **PREEMPTIONS,
        },
        "status": {"code": "UNSET", "message": ""},
        "events": [],
    }


def params(max_tokens: int, kind: RequestOutputKind = RequestOutputKind.CUMULATIVE) -> Any:
    return SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True,
                          output_kind=kind)


def test_concurrent_streams_each_get_their_own_span(engine: Engine,
                                                    axonize_capture: Capture) -> None:
    async def one(request_id: str, max_tokens: int, kind: RequestOutputKind) -> tuple[int, Any]:
        tokens, prompt = 0, None
        async for out in engine.engine.generate("hello world", params(max_tokens, kind),
                                                request_id):
            n = len(out.outputs[0].token_ids)
            tokens = tokens + n if kind == RequestOutputKind.DELTA else n
            prompt = prompt or out.prompt_token_ids
        return tokens, prompt

    async def three() -> list[tuple[int, Any]]:
        return list(await asyncio.gather(one("a", 4, RequestOutputKind.CUMULATIVE),
                                         one("b", 6, RequestOutputKind.CUMULATIVE),
                                         one("c", 8, RequestOutputKind.DELTA)))

    results = engine.run(three())
    assert [tokens for tokens, _ in results] == [4, 6, 8]
    prompt_len = len(results[0][1])
    spans = sorted(server_spans(axonize_capture), key=lambda s: s["attributes"]["ai.request.id"])
    assert spans == [streamed_span(engine.model, rid, prompt_len, n, n, "complete", "length")
                     for rid, n in (("a", 4), ("b", 6), ("c", 8))]
    assert len({s["trace_id"] for s in spans}) == 3  # three requests, three traces
    phases = [s for s in axonize_capture.spans_as_dicts() if s["kind"] == "INTERNAL"]
    assert sorted(s["name"] for s in phases) == sorted(
        ["vllm.request.decode", "vllm.request.prefill", "vllm.request.queued"] * 3)


def test_closing_the_stream_mid_way_ends_the_span_as_closed(engine: Engine,
                                                            axonize_capture: Capture) -> None:
    async def read_three() -> int:
        stream = engine.engine.generate("hello world", params(64), "closed")
        seen = 0
        async for out in stream:
            seen = len(out.outputs[0].token_ids)
            if seen >= 3:
                break
        await stream.aclose()
        return seen

    # An output usually brings one more token, but when the engine runs ahead of the reader
    # vLLM merges the waiting ones into the next output: the reader may stop at 4 or more.
    seen = engine.run(read_three())
    assert 3 <= seen < 64
    (span,) = server_spans(axonize_capture)
    a = span["attributes"]
    assert span["status"] == {"code": "UNSET", "message": ""}
    assert a["ai.llm.stream.end"] == "closed" and a["ai.llm.finish_reasons"] == ["abort"]
    assert a["ai.llm.tokens.output"] == seen  # what the reader got, no more
    # vLLM aborted the request, as it does without the plugin.
    assert engine.engine.output_processor.get_num_unfinished_requests() == 0


def test_a_cancelled_reader_ends_the_span_as_cancelled(engine: Engine,
                                                       axonize_capture: Capture) -> None:
    async def reader(first: asyncio.Event) -> None:
        async for _ in engine.engine.generate("hello world", params(200), "cancelled"):
            first.set()

    async def cancel_after_first() -> None:
        first = asyncio.Event()
        task = asyncio.create_task(reader(first))
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    engine.run(cancel_after_first())
    (span,) = server_spans(axonize_capture)
    assert span["status"]["code"] == "UNSET"
    assert span["attributes"]["ai.llm.stream.end"] == "cancelled"
    assert span["attributes"]["ai.llm.finish_reasons"] == ["abort"]


def test_an_engine_abort_ends_the_stream_and_its_span(engine: Engine,
                                                      axonize_capture: Capture) -> None:
    async def abort_after_two() -> Any:
        outs = []
        async for out in engine.engine.generate("hello world", params(200), "aborted"):
            outs.append(out)
            if len(outs) == 2:
                await engine.engine.abort("aborted")
        return outs[-1]

    last = engine.run(abort_after_two())
    assert last.finished and last.outputs[0].finish_reason == "abort"
    (span,) = server_spans(axonize_capture)
    assert span["attributes"]["ai.llm.stream.end"] == "complete"
    assert span["attributes"]["ai.llm.finish_reasons"] == ["abort"]


def test_an_error_reaches_the_caller_unchanged_and_fails_the_span(
        engine: Engine, axonize_capture: Capture) -> None:
    too_long = " ".join(["hello"] * 400)  # longer than max_model_len=256

    async def consume() -> None:
        async for _ in engine.engine.generate(too_long, params(4), "too-long"):
            pass

    with pytest.raises(Exception) as raised:
        engine.run(consume())
    (span,) = server_spans(axonize_capture)
    assert span["status"]["code"] == "ERROR"
    assert span["attributes"]["ai.llm.stream.end"] == "error"
    exc_type = type(raised.value)
    assert span["attributes"]["error.type"] == f"{exc_type.__module__}.{exc_type.__qualname__}"


def test_a_traceparent_makes_the_request_a_child_of_the_callers_span(
        engine: Engine, axonize_capture: Capture) -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    async def served(request_id: str, flags: str) -> None:
        headers = {"traceparent": f"00-{trace_id}-{span_id}-{flags}"}
        async for _ in engine.engine.generate("hello world", params(3), request_id,
                                              trace_headers=headers):
            pass

    engine.run(served("chatcmpl-1", "01"))
    engine.run(served("cmpl-2", "00"))  # the caller sampled its trace out: nothing recorded
    (span,) = [s for s in axonize_capture.spans() if s.kind == 2]  # SERVER
    assert span.trace_id.hex() == trace_id and span.parent_span_id.hex() == span_id
    assert span.name == f"chat {engine.model}"  # vllm serve's chat endpoint names its requests
    a = {kv.key: kv.value.string_value for kv in span.attributes}
    assert a["ai.server.endpoint"] == "/v1/chat/completions"
    assert a["ai.operation.name"] == "chat"
