from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, HttpSink

import axonize

# axonize_capture, the axonize_capture/axonize_lenient markers and strict mode's check;
# pytester runs the kit's own plugin tests.
pytest_plugins = ("axonize.testing", "pytester")

_ENV_PREFIXES = ("AXONIZE_", "OTEL_")
_KEPT = ("AXONIZE_STRICT",)  # strict mode stays on for the whole run


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no Axonize/OTel settings in the environment and no pipeline."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES) and key not in _KEPT:
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
