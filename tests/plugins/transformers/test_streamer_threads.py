"""generate run in another thread (the streamer pattern, executor fan-out) stays in the request's
trace, on real tiny models."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from axonize_testsupport import tiny_models  # noqa: E402
from axonize_testsupport.otlp_sink import GrpcSink, attrs, by_name  # noqa: E402
from axonize_transformers import TransformersInstrumentor  # noqa: E402
from transformers import AsyncTextIteratorStreamer, TextIteratorStreamer  # noqa: E402

import axonize  # noqa: E402

NO_PARENT = b""


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


@pytest.fixture(scope="module")
def gpt2(gpt2_dir: Path) -> tuple[Any, Any]:
    torch.set_num_threads(1)
    return tiny_models.load(gpt2_dir)


@pytest.fixture
def hf(traced: GrpcSink) -> Iterator[GrpcSink]:
    assert TransformersInstrumentor().instrument()
    yield traced
    TransformersInstrumentor().uninstrument()


def no_eos(model: Any) -> dict[str, Any]:
    """Greedy decoding that cannot stop early: exactly ``max_new_tokens`` new tokens."""
    return {"do_sample": False, "suppress_tokens": [model.config.eos_token_id]}


def stream_request(model: Any, tok: Any, name: str, new_tokens: int,
                   streamer: Any = None) -> tuple[str, Any]:
    """The documented pattern: generate in a Thread, the handler reads the streamer."""
    streamer = streamer or TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    enc = tok("hello world", return_tensors="pt")
    with axonize.span(name):
        t = threading.Thread(target=model.generate, kwargs={
            **enc, "streamer": streamer, "max_new_tokens": new_tokens,
            "min_new_tokens": new_tokens, **no_eos(model)})
        t.start()
        text = "".join(streamer)
    t.join()
    return text, enc


def test_streamer_pattern_is_one_trace_request_then_generate(
        hf: GrpcSink, gpt2: tuple[Any, Any]) -> None:
    model, tok = gpt2
    texts = [stream_request(model, tok, f"request {i}", 6)[0] for i in range(5)]
    axonize.flush(10)
    spans = by_name(hf.wait_for_spans(10))
    generates = [s for s in hf.spans() if s.name == "generate tiny-gpt2"]
    assert len(generates) == 5
    by_parent = {g.parent_span_id: g for g in generates}
    for i in range(5):
        request = spans[f"request {i}"]
        generate = by_parent[request.span_id]
        assert generate.trace_id == request.trace_id
        assert request.parent_span_id == NO_PARENT
        # The handler read the stream to its end: its span ends after generate's.
        assert generate.end_time_unix_nano <= request.end_time_unix_nano
        a = attrs(generate.attributes)
        assert a["ai.llm.tokens.output"] == 6
        assert a["ai.llm.stream"] is True
        assert 0 < a["ai.llm.ttft_ms"] <= (generate.end_time_unix_nano
                                           - generate.start_time_unix_nano) / 1e6
    assert all(texts)  # the caller's streamer got the whole text


def test_the_callers_streamer_gets_exactly_what_it_would_without_axonize(
        hf: GrpcSink, gpt2: tuple[Any, Any]) -> None:
    model, tok = gpt2
    traced_text, enc = stream_request(model, tok, "request", 8)
    TransformersInstrumentor().uninstrument()
    plain_text, _ = stream_request(model, tok, "plain request", 8)
    assert traced_text == plain_text
    out = model.generate(**enc, max_new_tokens=8, min_new_tokens=8, **no_eos(model))
    assert plain_text == tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


class SlowFirstToken(TextIteratorStreamer):  # type: ignore[misc]
    """Takes 150 ms to take in the first new token (the prompt is the first put)."""

    def __init__(self, tok: Any) -> None:
        super().__init__(tok, skip_prompt=True, skip_special_tokens=True)
        self.puts = 0

    def put(self, value: Any) -> None:
        self.puts += 1
        if self.puts == 2:
            time.sleep(0.15)
        super().put(value)


def test_ttft_is_when_the_first_token_reaches_the_streamer(
        hf: GrpcSink, gpt2: tuple[Any, Any]) -> None:
    model, tok = gpt2
    stream_request(model, tok, "request", 4, streamer=SlowFirstToken(tok))
    axonize.flush(10)
    generate = by_name(hf.wait_for_spans(2))["generate tiny-gpt2"]
    assert attrs(generate.attributes)["ai.llm.ttft_ms"] >= 150


def test_executor_fan_out_gives_each_generate_its_own_child_span(
        hf: GrpcSink, gpt2: tuple[Any, Any]) -> None:
    model, tok = gpt2
    enc = tok("hello world", return_tensors="pt")

    def run(n: int) -> Any:
        return model.generate(**enc, max_new_tokens=n, min_new_tokens=n, **no_eos(model))

    with ThreadPoolExecutor(max_workers=3) as pool:
        with axonize.span("request"):
            list(pool.map(run, (2, 4, 6)))
        pool.submit(run, 3).result()  # a pool thread reused with no span current
    axonize.flush(10)
    spans = hf.wait_for_spans(5)
    (request,) = [s for s in spans if s.name == "request"]
    generates = [s for s in spans if s.name == "generate tiny-gpt2"]
    children = sorted((s for s in generates if s.parent_span_id == request.span_id),
                      key=lambda s: attrs(s.attributes)["ai.llm.tokens.output"])
    assert [attrs(s.attributes)["ai.llm.tokens.output"] for s in children] == [2, 4, 6]
    for child in children:
        a = attrs(child.attributes)
        assert child.trace_id == request.trace_id
        assert a["ai.llm.tokens.input"] == enc["input_ids"].shape[1]
        assert a["ai.llm.ttft_ms"] > 0 and a["ai.llm.tokens_per_second"] > 0
    (after,) = [s for s in generates if s.parent_span_id == NO_PARENT]
    assert attrs(after.attributes)["ai.llm.tokens.output"] == 3
    assert after.trace_id != request.trace_id


def test_async_streamer_with_generate_in_to_thread(hf: GrpcSink, gpt2: tuple[Any, Any]) -> None:
    model, tok = gpt2
    enc = tok("hello world", return_tensors="pt")

    async def handler() -> str:
        streamer = AsyncTextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        with axonize.span("request"):
            task = asyncio.create_task(asyncio.to_thread(
                model.generate, **enc, streamer=streamer, max_new_tokens=5, min_new_tokens=5,
                **no_eos(model)))
            text = "".join([chunk async for chunk in streamer])
            await task
        return text

    assert asyncio.run(handler())
    axonize.flush(10)
    spans = by_name(hf.wait_for_spans(2))
    generate, request = spans["generate tiny-gpt2"], spans["request"]
    assert generate.parent_span_id == request.span_id
    assert generate.end_time_unix_nano <= request.end_time_unix_nano
    assert attrs(generate.attributes)["ai.llm.tokens.output"] == 5


def test_switched_off_the_generate_thread_starts_its_own_trace(
        sink: GrpcSink, gpt2: tuple[Any, Any]) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, thread_context=False)
    assert TransformersInstrumentor().instrument()
    try:
        model, tok = gpt2
        stream_request(model, tok, "request", 4)
    finally:
        TransformersInstrumentor().uninstrument()
    axonize.flush(10)
    spans = by_name(sink.wait_for_spans(2))
    assert spans["generate tiny-gpt2"].parent_span_id == NO_PARENT
    assert spans["generate tiny-gpt2"].trace_id != spans["request"].trace_id


SCRIPT = """
import threading
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer
import axonize

torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained({model!r})
model = AutoModelForCausalLM.from_pretrained({model!r})
streamer = TextIteratorStreamer(tok, skip_prompt=True)
with axonize.span("request"):
    inputs = tok("hello world", return_tensors="pt")
    thread = threading.Thread(target=model.generate,
                              kwargs=dict(**inputs, streamer=streamer, max_new_tokens=5))
    thread.start()
    print("".join(streamer))
thread.join()
"""


def test_the_issue_example_under_axonize_instrument(
        sink: GrpcSink, tmp_path: Path, gpt2_dir: Path) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(model=str(gpt2_dir)))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    launcher = Path(sys.executable).with_name("axonize-instrument")
    proc = subprocess.run(
        [str(launcher), sys.executable, str(script)], capture_output=True, text=True,
        timeout=180, env={**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                          "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    spans = by_name(sink.wait_for_spans(2))
    assert sorted(spans) == ["generate tiny-gpt2", "request"]
    assert spans["generate tiny-gpt2"].parent_span_id == spans["request"].span_id
    assert "ai.llm.ttft_ms" in attrs(spans["generate tiny-gpt2"].attributes)
