"""vLLM's own OTLP tracing on (``otlp_traces_endpoint``): one span per request, not two.

vLLM exports an ``llm_request`` span per request to its endpoint; while Axonize traces, its
request span stands in for it.  (vLLM installs a global OTel tracer provider here: this module
runs last in the directory.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

vllm = pytest.importorskip("vllm")

from axonize_testsupport.otlp_sink import GrpcSink  # noqa: E402
from axonize_testsupport.vllm_models import ENGINE_ARGS, build_vllm_llama  # noqa: E402
from axonize_vllm import VllmInstrumentor  # noqa: E402
from opentelemetry import trace  # noqa: E402
from vllm import LLM, SamplingParams  # noqa: E402

from axonize.testing import Capture, capture  # noqa: E402

pytestmark = [pytest.mark.axonize_capture(deterministic=False), pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def vllm_sink() -> Iterator[GrpcSink]:
    sink = GrpcSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def traced_llm(tmp_path_factory: pytest.TempPathFactory, vllm_sink: GrpcSink) -> Iterator[Any]:
    import torch

    torch.set_num_threads(1)
    model = build_vllm_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
    with capture(deterministic=False):
        assert VllmInstrumentor().instrument()
        engine = LLM(model=str(model), otlp_traces_endpoint=vllm_sink.endpoint, **ENGINE_ARGS)
    yield engine
    VllmInstrumentor().uninstrument()
    del engine


def _vllm_spans(sink: GrpcSink) -> list[Any]:
    provider: Any = trace.get_tracer_provider()  # vLLM's own, with its batch exporter
    provider.force_flush()
    return [s for s in sink.spans() if s.name == "llm_request"]


def test_axonize_request_spans_stand_in_for_vllms(traced_llm: Any, vllm_sink: GrpcSink,
                                                  axonize_capture: Capture) -> None:
    traced_llm.generate(["hello", "world"], SamplingParams(max_tokens=3), use_tqdm=False)
    ours = [s for s in axonize_capture.spans_as_dicts() if s["kind"] == "SERVER"]
    assert len(ours) == 2
    assert _vllm_spans(vllm_sink) == []
    VllmInstrumentor().uninstrument()  # without Axonize, vLLM's own spans are back
    try:
        traced_llm.generate(["hello", "world"], SamplingParams(max_tokens=3), use_tqdm=False)
        assert len(_vllm_spans(vllm_sink)) == 2
    finally:
        assert VllmInstrumentor().instrument()
