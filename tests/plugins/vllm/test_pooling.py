"""``LLM.embed`` on the tiny Llama run as a pooling model; an engine whose user chose its stats.

The user passes ``disable_log_stats=False`` here: the plugin leaves vLLM's stat loggers as asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

vllm = pytest.importorskip("vllm")

from axonize_testsupport.vllm_models import ENGINE_ARGS, build_vllm_llama  # noqa: E402
from axonize_vllm import VllmInstrumentor  # noqa: E402
from vllm import LLM  # noqa: E402

from axonize.testing import Capture, capture  # noqa: E402

pytestmark = [pytest.mark.axonize_capture(deterministic=False), pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def pooling_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import torch

    torch.set_num_threads(1)
    model = build_vllm_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
    with capture(deterministic=False):
        assert VllmInstrumentor().instrument()
        engine = LLM(model=str(model), runner="pooling", disable_log_stats=False, **ENGINE_ARGS)
    yield engine
    VllmInstrumentor().uninstrument()
    del engine


def test_the_users_choice_of_stats_is_kept(pooling_llm: Any) -> None:
    assert pooling_llm.llm_engine.logger_manager is not None  # stats logging, as asked


def test_embed_gets_a_call_span_and_a_span_per_input(pooling_llm: Any,
                                                     axonize_capture: Capture) -> None:
    model = pooling_llm.llm_engine.model_config.served_model_name
    outputs = pooling_llm.embed(["hello world", "tokens per second"], use_tqdm=False)
    dims = len(outputs[0].outputs.embedding)
    spans = axonize_capture.spans_as_dicts()
    call, *requests = (s for s in spans if not s["name"].startswith("vllm.request."))
    assert call["name"] == "vllm.LLM.embed"
    assert call["attributes"]["ai.llm.batch_size"] == 2
    assert call["attributes"]["ai.operation.name"] == "embeddings"
    assert len(requests) == 2
    for out, span in zip(outputs, requests, strict=True):
        assert span["name"] == f"embeddings {model}" and span["kind"] == "SERVER"
        a = span["attributes"]
        assert a["ai.llm.tokens.input"] == len(out.prompt_token_ids)
        assert a["ai.embedding.dimensions"] == dims
        assert a["gen_ai.embeddings.dimension.count"] == dims
        assert a["ai.request.id"] == out.request_id
        assert "ai.llm.tokens.output" not in a
