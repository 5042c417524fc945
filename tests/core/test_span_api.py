"""The span API as a user sees it, asserted on what a real OTLP gRPC receiver decodes."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, attrs, by_name
from axonize_testsupport.otlp_sink import span_record as record

import axonize


def test_span_is_exported_as_a_whole_record(traced: GrpcSink) -> None:
    with axonize.span("load weights", {"model.path": "/models/tiny"}) as s:
        s.set_attribute("shard", 3)
        s.set_attributes({"dtype": "float16", "quantized": False, "scale": 0.5,
                          "layers": [0, 1, 2]})
        s.set_status(axonize.SpanStatus.OK)
    assert axonize.flush(5)
    (span,) = traced.wait_for_spans(1)
    assert record(span) == {
        "name": "load weights",
        "kind": 1,
        "attributes": {"model.path": "/models/tiny", "shard": 3, "dtype": "float16",
                       "quantized": False, "scale": 0.5, "layers": [0, 1, 2]},
        "status": {"code": 1, "message": ""},
    }
    assert len(span.trace_id) == 16 and len(span.span_id) == 8
    assert span.parent_span_id == b""
    assert 0 < span.start_time_unix_nano <= span.end_time_unix_nano
    (rs,) = traced.resource_spans()
    resource = attrs(rs.resource.attributes)
    assert resource["service.name"] == "test-svc"
    assert resource["telemetry.sdk.name"] == "axonize"
    assert rs.scope_spans[0].scope.name == "axonize"


def test_children_share_the_trace_and_point_at_their_parent(traced: GrpcSink) -> None:
    with axonize.span("request"):
        with axonize.span("tokenize"):
            pass
        with axonize.span("generate"), axonize.span("decode step"):
            pass
    axonize.flush(5)
    spans = by_name(traced.wait_for_spans(4))
    root = spans["request"]
    assert {s.trace_id for s in spans.values()} == {root.trace_id}
    assert spans["tokenize"].parent_span_id == root.span_id
    assert spans["generate"].parent_span_id == root.span_id
    assert spans["decode step"].parent_span_id == spans["generate"].span_id
    assert len({s.span_id for s in spans.values()}) == 4


def test_exception_marks_error_and_propagates_unchanged(traced: GrpcSink) -> None:
    boom = ValueError("CUDA out of memory")
    with pytest.raises(ValueError) as caught, axonize.span("generate"):
        raise boom
    assert caught.value is boom
    axonize.flush(5)
    (span,) = traced.wait_for_spans(1)
    assert record(span) == {
        "name": "generate",
        "kind": 1,
        "attributes": {"error.type": "ValueError"},
        "status": {"code": 2, "message": "ValueError: CUDA out of memory"},
        "events": [{"name": "exception", "attributes": [
            "exception.message", "exception.stacktrace", "exception.type"]}],
    }
    event = attrs(span.events[0].attributes)
    assert event["exception.type"] == "ValueError"
    assert "raise boom" in event["exception.stacktrace"]


def test_set_status_error_and_record_exception(traced: GrpcSink) -> None:
    with axonize.span("retrying call") as s:
        try:
            raise TimeoutError("upstream slow")
        except TimeoutError as exc:
            s.record_exception(exc)
        s.set_status(axonize.SpanStatus.ERROR, "gave up after 3 tries")
    axonize.flush(5)
    (span,) = traced.wait_for_spans(1)
    assert (span.status.code, span.status.message) == (2, "gave up after 3 tries")
    assert attrs(span.events[0].attributes)["exception.message"] == "upstream slow"


def test_llm_span_exports_ttft_throughput_and_genai_names(traced: GrpcSink) -> None:
    with axonize.llm_span(model="tiny-llama", provider="transformers") as s:
        s.set_tokens_input(12)
        time.sleep(0.02)  # prefill
        for _ in range(5):
            s.record_token()
            time.sleep(0.005)
    axonize.flush(5)
    (span,) = traced.wait_for_spans(1)
    a = attrs(span.attributes)
    assert span.name == "text_completion tiny-llama"
    duration_s = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
    assert a["ai.llm.tokens.input"] == a["gen_ai.usage.input_tokens"] == 12
    assert a["ai.llm.tokens.output"] == a["gen_ai.usage.output_tokens"] == 5
    assert a["ai.model.name"] == a["gen_ai.request.model"] == "tiny-llama"
    assert a["ai.operation.name"] == a["gen_ai.operation.name"] == "text_completion"
    assert a["gen_ai.provider.name"] == "transformers"
    assert 20 <= a["ai.llm.ttft_ms"] < duration_s * 1000
    assert a["ai.llm.tokens_per_second"] == pytest.approx(5 / duration_s)
    # TPOT: time after the first token spread over the 4 later tokens.
    assert a["ai.llm.tpot_ms"] == pytest.approx(
        (duration_s * 1000 - a["ai.llm.ttft_ms"]) / 4, rel=1e-6)


def test_llm_span_explicit_counts_and_model_version(traced: GrpcSink) -> None:
    with axonize.llm_span("chat", model="m", operation="chat") as s:
        s.set_model("llama-3-8b", "rev-7")
        s.record_token(4)  # a chunk of 4 tokens
        s.set_tokens_output(9)  # the server's count wins
    axonize.flush(5)
    (span,) = traced.wait_for_spans(1)
    a = attrs(span.attributes)
    assert span.name == "chat"
    assert a["ai.model.name"] == "llama-3-8b" and a["ai.model.version"] == "rev-7"
    assert a["ai.llm.tokens.output"] == 9


@pytest.mark.parametrize(("mode", "present", "absent"), [
    ("axonize", "ai.llm.tokens.input", "gen_ai.usage.input_tokens"),
    ("gen_ai", "gen_ai.usage.input_tokens", "ai.llm.tokens.input"),
])
def test_semconv_mode_selects_the_names(sink: GrpcSink, mode: str, present: str,
                                        absent: str) -> None:
    axonize.init(endpoint=sink.endpoint, semconv=mode, flush_interval_ms=50)
    with axonize.llm_span(model="m") as s:
        s.set_tokens_input(3)
    axonize.flush(5)
    a = attrs(sink.wait_for_spans(1)[0].attributes)
    assert a[present] == 3
    assert absent not in a
    assert "ai.llm.tokens_per_second" not in a  # zero output tokens: no rate is invented


def test_trace_decorator_on_functions_and_coroutines(traced: GrpcSink) -> None:
    @axonize.trace
    def tokenize(text: str) -> list[str]:
        return text.split()

    @axonize.trace(name="embed batch", attributes={"batch": 2})
    async def embed(words: list[str]) -> int:
        await asyncio.sleep(0)
        return len(words)

    assert tokenize("a b") == ["a", "b"]
    assert asyncio.run(embed(["a", "b"])) == 2
    assert tokenize.__name__ == "tokenize"
    axonize.flush(5)
    spans = by_name(traced.wait_for_spans(2))
    assert set(spans) == {"test_trace_decorator_on_functions_and_coroutines.<locals>.tokenize",
                          "embed batch"}
    assert attrs(spans["embed batch"].attributes) == {"batch": 2}


def test_generator_span_covers_iteration_not_creation(traced: GrpcSink) -> None:
    @axonize.trace(name="stream")
    def stream(n: int) -> Any:
        for i in range(n):
            with axonize.span("inner"):
                pass
            yield i

    gen = stream(3)
    time.sleep(0.03)  # created but not iterated: not part of the span
    created = time.time_ns()
    with axonize.span("consumer"):
        out = []
        for item in gen:
            with axonize.span("between yields"):
                out.append(item)
    assert out == [0, 1, 2]
    axonize.flush(5)
    spans = traced.wait_for_spans(8)
    named = by_name(spans)
    assert named["stream"].start_time_unix_nano >= created
    # The generator's own spans are its children; the caller's are not.
    assert all(s.parent_span_id == named["stream"].span_id for s in spans if s.name == "inner")
    assert all(s.parent_span_id == named["consumer"].span_id
               for s in spans if s.name == "between yields")
    assert named["stream"].parent_span_id == named["consumer"].span_id


def test_generator_closed_early_and_raising(traced: GrpcSink) -> None:
    @axonize.trace
    def tokens() -> Any:
        yield 1
        yield 2
        raise RuntimeError("decode failed")

    g = tokens()
    assert next(g) == 1
    g.close()  # consumer stopped early
    with pytest.raises(RuntimeError, match="decode failed"):
        list(tokens())
    axonize.flush(5)
    first, second = sorted(traced.wait_for_spans(2), key=lambda s: s.start_time_unix_nano)
    assert first.status.code == 0
    assert second.status.code == 2


def test_async_generator_span(traced: GrpcSink) -> None:
    @axonize.trace(name="astream")
    async def astream() -> Any:
        for i in range(3):
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        return [x async for x in astream()]

    assert asyncio.run(main()) == [0, 1, 2]
    axonize.flush(5)
    (span,) = traced.wait_for_spans(1)
    assert span.name == "astream"


def test_parentage_across_threads_and_asyncio_tasks(traced: GrpcSink) -> None:
    def work() -> None:
        with axonize.span("in thread"):
            pass

    async def task(i: int) -> None:
        with axonize.span(f"task {i}"):
            await asyncio.sleep(0.001)

    async def fan_out() -> None:
        with axonize.span("async root"):
            await asyncio.gather(*(task(i) for i in range(3)))

    with axonize.span("root"):
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(work,))
        t.start()
        t.join()
    asyncio.run(fan_out())
    axonize.flush(5)
    spans = by_name(traced.wait_for_spans(6))
    assert spans["in thread"].parent_span_id == spans["root"].span_id
    for i in range(3):
        assert spans[f"task {i}"].parent_span_id == spans["async root"].span_id


def test_spans_before_init_and_after_shutdown_are_noops(sink: GrpcSink) -> None:
    with axonize.span("before") as s:
        s.set_attribute("k", 1)
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    with axonize.span("during"):
        pass
    axonize.shutdown(5)
    with axonize.span("after") as s:
        s.set_status(axonize.SpanStatus.ERROR)
    assert [s.name for s in sink.spans()] == ["during"]


def test_disabled_by_otel_sdk_disabled(sink: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    cfg = axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    assert cfg.disabled
    with axonize.llm_span(model="m") as s:
        s.record_token()
    assert axonize.flush(1)
    assert sink.spans() == []


def test_head_sampling_is_parent_based(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, sample_rate=0.25, flush_interval_ms=50)
    for _ in range(400):
        with axonize.span("root"), axonize.span("child"):
            pass
    axonize.flush(5)
    spans = sink.spans()
    roots = [s for s in spans if s.name == "root"]
    children = [s for s in spans if s.name == "child"]
    assert 40 <= len(roots) <= 180  # 100 expected; bounds far outside chance
    # Every kept child has its root, and every kept root its child.
    assert {c.parent_span_id for c in children} == {r.span_id for r in roots}


def test_sample_rate_zero_exports_nothing(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, sample_rate=0.0, flush_interval_ms=50)
    for _ in range(50):
        with axonize.span("root"), axonize.llm_span(model="m") as s:
            s.record_token()
    axonize.flush(5)
    assert sink.spans() == []


def test_unusual_attribute_values_never_break_export(traced: GrpcSink) -> None:
    class Weird:
        def __str__(self) -> str:
            return "weird!"

    with axonize.span("odd") as s:
        s.set_attribute("none", None)
        s.set_attribute("obj", Weird())
        s.set_attribute("huge", 1 << 70)
        s.set_attribute("nested", [[1], 2])
        s.set_attribute("bytes", b"\x00\x01")
    axonize.flush(5)
    a = attrs(traced.wait_for_spans(1)[0].attributes)
    assert a == {"obj": "weird!", "huge": str(1 << 70), "nested": [2], "bytes": b"\x00\x01"}


def test_current_span_and_explicit_start_end(traced: GrpcSink) -> None:
    assert not axonize.current_span().is_recording
    with axonize.span("outer") as outer:
        assert axonize.current_span() is outer
        s = axonize.span("detached").start()
        assert axonize.current_span() is outer  # start() does not make it current
        s.end()
        s.end()  # idempotent
    axonize.flush(5)
    spans = by_name(traced.wait_for_spans(2))
    assert len(traced.spans()) == 2
    assert spans["detached"].parent_span_id == spans["outer"].span_id


def test_set_gpus_is_exported(traced: GrpcSink) -> None:
    with axonize.span("forward") as s:
        s.set_gpus(["cuda:0", "cuda:1"])
    axonize.flush(5)
    assert attrs(traced.wait_for_spans(1)[0].attributes)["gpu.devices"] == ["cuda:0", "cuda:1"]
