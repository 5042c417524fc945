"""``generate`` runs the model in-process: its spans carry the ``axonize_transformers`` scope and
report the server-side GenAI metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from axonize_testsupport import tiny_models
from axonize_testsupport.otlp_sink import GrpcSink
from axonize_transformers import TransformersInstrumentor, __version__

import axonize


@pytest.fixture
def instrumented(traced: GrpcSink) -> Iterator[GrpcSink]:
    assert TransformersInstrumentor().instrument()
    yield traced
    TransformersInstrumentor().uninstrument()


def test_generate_spans_have_the_plugins_scope_and_server_metrics(
        instrumented: GrpcSink, tmp_path: Path) -> None:
    model, tok = tiny_models.load(tiny_models.build_llama(tmp_path / "tiny-llama"))
    model.generate(**tok("hello", return_tensors="pt"), max_new_tokens=3, min_new_tokens=3,
                   do_sample=False)
    assert axonize.flush(5)
    (rs,) = instrumented.resource_spans()
    scopes = {(ss.scope.name, ss.scope.version) for ss in rs.scope_spans}
    assert scopes == {("axonize_transformers", __version__)}
    metrics = instrumented.metrics()
    assert metrics["gen_ai.server.time_to_first_token"].histogram.data_points[0].count == 1
    assert not [n for n in metrics if n.startswith("gen_ai.client.operation.time_")]
