from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from otlp_sink import GrpcSink, HttpSink, attrs

import axonize

_ENV_PREFIXES = ("AXONIZE_", "OTEL_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no Axonize/OTel settings in the environment and no pipeline."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key)
    yield
    axonize.shutdown(timeout=2)


@pytest.fixture
def sink() -> Iterator[GrpcSink]:
    s = GrpcSink()
    yield s
    axonize.shutdown(timeout=2)  # while the sink still answers
    s.stop()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    s = HttpSink()
    yield s
    axonize.shutdown(timeout=2)
    s.stop()


@pytest.fixture
def traced(sink: GrpcSink) -> Iterator[GrpcSink]:
    """Axonize initialized against a live gRPC sink, exporting quickly."""
    axonize.init(endpoint=sink.endpoint, service_name="test-svc", flush_interval_ms=50)
    yield sink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record(span: Any) -> dict[str, Any]:
    """A span as a user-visible record (ids and times replaced by what they mean)."""
    out: dict[str, Any] = {
        "name": span.name,
        "kind": span.kind,
        "attributes": attrs(span.attributes),
        "status": {"code": span.status.code, "message": span.status.message},
    }
    if span.events:
        out["events"] = [{"name": e.name, "attributes": sorted(attrs(e.attributes))}
                         for e in span.events]
    return out


def by_name(spans: list[Any]) -> dict[str, Any]:
    return {s.name: s for s in spans}
