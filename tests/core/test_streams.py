"""Stream meters: the consumer gets exactly its items; the span ends once, whatever happens."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, attrs

import axonize
from axonize_core.streams import meter_async_stream, meter_stream


def chunks(n: int, delay: float = 0.0, fail_at: int | None = None) -> Iterator[dict[str, Any]]:
    for i in range(n):
        if fail_at == i:
            raise ConnectionError("server went away")
        time.sleep(delay)
        yield {"text": f"t{i}", "tokens": 2}


class Stream:
    """A response object with its own attributes, like a client library's stream."""

    def __init__(self, n: int) -> None:
        self.status_code = 200
        self._it = chunks(n)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._it

    def headers(self) -> dict[str, str]:
        return {"x-model": "tiny"}


def exported(sink: GrpcSink) -> dict[str, Any]:
    axonize.flush(5)
    (span,) = sink.wait_for_spans(1)
    return {"status": span.status.code, **attrs(span.attributes)}


def test_items_pass_unchanged_and_the_span_has_stream_figures(traced: GrpcSink) -> None:
    span = axonize.llm_span(model="m", operation="chat").start()
    metered = meter_stream(chunks(4, delay=0.005), span, count=lambda c: c["tokens"])
    assert list(metered) == list(chunks(4))
    a = exported(traced)
    assert a["ai.llm.tokens.output"] == 8
    assert a["ai.llm.stream"] is True and a["ai.llm.stream.end"] == "complete"
    assert a["ai.llm.ttft_ms"] >= 5
    assert a["ai.llm.token_gap_ms.max"] >= 5
    assert a["status"] == 0


def test_proxy_keeps_the_wrapped_objects_attributes(traced: GrpcSink) -> None:
    metered = meter_stream(Stream(2), axonize.llm_span(model="m").start())
    assert metered.status_code == 200 and metered.headers() == {"x-model": "tiny"}
    assert isinstance(metered, Stream)
    assert [c["text"] for c in metered] == ["t0", "t1"]


def test_closed_early(traced: GrpcSink) -> None:
    metered = meter_stream(chunks(10), axonize.llm_span(model="m").start())
    assert next(metered)["text"] == "t0"
    metered.close()
    metered.close()  # ends once
    a = exported(traced)
    assert (a["ai.llm.stream.end"], a["ai.llm.tokens.output"]) == ("closed", 1)
    assert len(traced.spans()) == 1


def test_error_mid_stream_reaches_the_consumer_and_marks_the_span(traced: GrpcSink) -> None:
    metered = meter_stream(chunks(5, fail_at=2), axonize.llm_span(model="m").start())
    got = []
    with pytest.raises(ConnectionError, match="server went away"):
        for c in metered:
            got.append(c)
    assert len(got) == 2
    a = exported(traced)
    assert (a["status"], a["ai.llm.stream.end"], a["ai.llm.tokens.output"]) == (2, "error", 2)


def test_abandoned_stream_ends_when_collected(traced: GrpcSink) -> None:
    metered = meter_stream(chunks(5), axonize.llm_span(model="m").start())
    next(metered)
    del metered
    gc.collect()
    assert exported(traced)["ai.llm.stream.end"] == "abandoned"


@pytest.mark.axonize_lenient  # breaks Axonize on purpose
def test_a_failing_token_counter_never_breaks_the_stream(traced: GrpcSink) -> None:
    metered = meter_stream(chunks(3), axonize.llm_span(model="m").start(),
                           count=lambda c: c["missing"])
    assert len(list(metered)) == 3
    assert exported(traced)["ai.llm.stream.end"] == "complete"


def test_async_stream(traced: GrpcSink) -> None:
    async def agen() -> AsyncIterator[str]:
        for i in range(3):
            await asyncio.sleep(0.002)
            yield f"a{i}"

    async def consume() -> list[str]:
        metered = meter_async_stream(agen(), axonize.llm_span(model="m").start())
        return [x async for x in metered]

    async def consume_early() -> str:
        metered = meter_async_stream(agen(), axonize.llm_span(model="m2").start())
        first: str = await metered.__anext__()
        await metered.aclose()
        return first

    assert asyncio.run(consume()) == ["a0", "a1", "a2"]
    assert asyncio.run(consume_early()) == "a0"
    axonize.flush(5)
    spans = {attrs(s.attributes)["ai.model.name"]: attrs(s.attributes)
             for s in traced.wait_for_spans(2)}
    assert spans["m"]["ai.llm.tokens.output"] == 3
    assert spans["m"]["ai.llm.stream.end"] == "complete"
    assert spans["m2"]["ai.llm.stream.end"] == "closed"
