"""The Ollama plugin is a client: its spans carry the ``axonize_ollama`` scope, and its
streamed calls report the client's chunk metrics (with the conventions' opt-in), never the
server's ``gen_ai.server.*``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

ollama = pytest.importorskip("ollama")

from axonize_ollama import OllamaInstrumentor, __version__  # noqa: E402
from axonize_testsupport.ollama_server import OllamaServer  # noqa: E402
from axonize_testsupport.otlp_sink import GrpcSink  # noqa: E402

import axonize  # noqa: E402


@pytest.fixture
def client(sink: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    axonize.init(endpoint=sink.endpoint, service_name="t", flush_interval_ms=50)
    assert OllamaInstrumentor().instrument()
    with OllamaServer(first_token_s=0.02, token_s=0.002) as srv:
        yield ollama.Client(host=f"127.0.0.1:{srv.port}")
    OllamaInstrumentor().uninstrument()


def test_streamed_chat_is_a_client_span_under_the_plugins_scope(
        client: ollama.Client, sink: GrpcSink) -> None:
    chunks = list(client.chat(model="tiny-llama", stream=True,
                              messages=[{"role": "user", "content": "hi"}]))
    assert chunks[-1].done
    assert axonize.flush(5)
    (rs,) = sink.resource_spans()
    ((scope, names),) = [((ss.scope.name, ss.scope.version), [s.name for s in ss.spans])
                         for ss in rs.scope_spans]
    assert scope == ("axonize_ollama", __version__) and names == ["chat tiny-llama"]
    metrics = sink.metrics()
    assert not [name for name in metrics if name.startswith("gen_ai.server.")]
    ttfc = metrics["gen_ai.client.operation.time_to_first_chunk"].histogram.data_points[0]
    assert ttfc.count == 1 and ttfc.min >= 0.02
