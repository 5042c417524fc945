"""A Litestar app whose sync handlers (run in Litestar's thread pool) call generate, directly or
through the streamer pattern: each generate span is a child of its own request's span."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
litestar = pytest.importorskip("litestar")

from axonize_testsupport import tiny_models  # noqa: E402
from axonize_testsupport.otlp_sink import GrpcSink, attrs  # noqa: E402
from axonize_transformers import TransformersInstrumentor  # noqa: E402
from litestar import Litestar, get  # noqa: E402
from litestar.params import FromQuery  # noqa: E402
from litestar.response import Stream  # noqa: E402
from litestar.testing import TestClient  # noqa: E402
from litestar.types import ASGIApp, Receive, Scope, Send  # noqa: E402
from transformers import TextIteratorStreamer  # noqa: E402

import axonize  # noqa: E402


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    torch.set_num_threads(1)
    path: Path = tiny_models.build_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
    return tiny_models.load(path)


@pytest.fixture
def hf(traced: GrpcSink) -> Iterator[GrpcSink]:
    assert TransformersInstrumentor().instrument()
    yield traced
    TransformersInstrumentor().uninstrument()


def request_spans(app: ASGIApp) -> ASGIApp:
    """What a server instrumentation does: one SERVER span around each HTTP request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        name = f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}"
        with axonize.span(name, kind=axonize.SpanKind.SERVER):
            await app(scope, receive, send)

    return middleware


def make_app(model: Any, tok: Any) -> Litestar:
    def kwargs(n: int) -> dict[str, Any]:
        enc = tok("hello world", return_tensors="pt")
        return {**enc, "max_new_tokens": n, "min_new_tokens": n, "do_sample": False}

    @get("/generate", sync_to_thread=True)
    def generate(n: FromQuery[int]) -> dict[str, int]:
        out = model.generate(**kwargs(n))
        return {"length": int(out.shape[1])}

    @get("/stream", sync_to_thread=True)
    def stream(n: FromQuery[int]) -> Stream:
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        threading.Thread(target=model.generate, kwargs={**kwargs(n), "streamer": streamer}).start()
        return Stream(streamer, media_type="text/plain")

    return Litestar([generate, stream], middleware=[request_spans])


def test_sync_handlers_calling_generate_are_children_of_their_requests(
        hf: GrpcSink, llama: tuple[Any, Any]) -> None:
    model, tok = llama
    calls = [("/generate", n) for n in (2, 3, 4)] + [("/stream", n) for n in (5, 6, 7)]
    with TestClient(make_app(model, tok)) as client, ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda c: client.get(c[0], params={"n": c[1]}), calls))
    assert [r.status_code for r in responses] == [200] * 6
    assert all(r.text for r in responses[3:])  # the streamed text arrived
    axonize.flush(10)
    spans = hf.wait_for_spans(12)
    requests = {s.name: s for s in spans if s.name.startswith("GET ")}
    generates = {s.parent_span_id: s for s in spans if s.name == "generate tiny-llama"}
    assert len(requests) == 6 and len(generates) == 6
    for path, n in calls:
        request = requests[f"GET {path}?n={n}"]
        generate = generates[request.span_id]  # the generate span of this very request
        assert generate.trace_id == request.trace_id
        assert attrs(generate.attributes)["ai.llm.tokens.output"] == n
        assert generate.end_time_unix_nano <= request.end_time_unix_nano
