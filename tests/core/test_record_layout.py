"""The record a finished span leaves in the buffer: its tuple layout is what the exporter thread
reads by index (``_record``), so it is pinned here rather than by a comment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import axonize
from axonize_core import _record as R
from axonize_core._state import PIPELINE
from axonize_core.instrumentation import InstrumentationScope


class _Capture:
    """A sink that keeps what the hot path appends, exactly as appended."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.wake_at = 1 << 30

    def push(self, item: Any) -> None:
        self.items.append(item)

    def crowded(self) -> None:
        pass


@pytest.fixture
def pushed() -> Iterator[list[Any]]:
    axonize.init(exporter="none", metrics=False, gpu_profiling=False)
    saved = PIPELINE.sink
    capture = _Capture()
    PIPELINE.set_sink(capture)
    try:
        yield capture.items
    finally:
        PIPELINE.set_sink(saved)


def test_a_plain_span_record_has_the_fields_where_the_exporter_reads_them(
        pushed: list[Any]) -> None:
    parent = axonize.span("work", {"k": "v"}, kind=axonize.SpanKind.SERVER)
    with parent, axonize.span("child") as s:
        s.set_gpus("cuda:0")
        s.set_status(axonize.SpanStatus.ERROR, "bad")
        s.add_event("e")
    child, rec = pushed
    assert len(rec) == len(child) == 13
    assert rec[R.NAME] == "work" and child[R.NAME] == "child"
    assert (rec[R.TRACE_ID], rec[R.SPAN_ID]) == (parent.trace_id, parent.span_id)
    assert child[R.PARENT_SPAN_ID] == parent.span_id and rec[R.PARENT_SPAN_ID] == 0
    assert rec[R.START_NS] == parent.start_ns and rec[R.END_NS] == parent.end_ns
    assert rec[R.START_NS] <= child[R.START_NS] <= child[R.END_NS] <= rec[R.END_NS]
    assert rec[R.KIND] == 2 and rec[R.ATTRIBUTES] == {"k": "v"}
    assert child[R.EVENTS][0][1] == "e"
    assert (child[R.STATUS_CODE], child[R.STATUS_MESSAGE]) == (2, "bad")
    assert child[R.GPUS] == ("cuda:0",) and rec[R.LLM] is None
    assert rec == parent.record()  # the exit's inlined tuple and record() agree


def test_an_llm_span_record_carries_its_llm_fields_and_scope(pushed: list[Any]) -> None:
    scope = InstrumentationScope("axonize_test_plugin", "9.9")
    with scope.LlmSpan("gen", "m", operation="chat", provider="p") as s:
        s.set_model("m", "rev1")
        s.set_tokens_input(7)
        s.record_token(3)
        s.set_tokens_output(5)
    (rec,) = pushed
    llm = rec[R.LLM]
    assert len(llm) == 9
    assert (llm[R.OPERATION], llm[R.MODEL], llm[R.MODEL_VERSION], llm[R.PROVIDER]) == (
        "chat", "m", "rev1", "p")
    assert (llm[R.TOKENS_INPUT], llm[R.TOKENS_OUTPUT], llm[R.TOKEN_COUNT]) == (7, 5, 3)
    assert llm[R.FIRST_TOKEN_NS] == s.first_token_ns > 0
    assert llm[R.SCOPE] == ("axonize_test_plugin", "9.9")
    assert rec == s.record()
    assert isinstance(s, axonize.LlmSpan)


def test_spans_made_without_a_scope_have_axonizes(pushed: list[Any]) -> None:
    with axonize.llm_span(model="m"):
        pass
    assert pushed[0][R.LLM][R.SCOPE] is None
