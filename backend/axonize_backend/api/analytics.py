"""``/api/v1/analytics``: per-model figures over a time range and per time bucket."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from axonize_backend.api.auth import provide_reader
from axonize_backend.api.params import TimeRange, last_day
from axonize_backend.render import finite, optional_number, percentiles
from axonize_backend.service import Backend


class ModelFigures(msgspec.Struct):
    model: str
    requests: int
    error_rate: float
    latency_ms: dict[str, float]
    ttft_ms: dict[str, float] | None
    tokens_per_second: float | None
    tokens_input: int
    tokens_output: int
    gpu_utilization_pct: float | None
    gpu_seconds: float
    cost_usd: float


class BucketFigures(msgspec.Struct):
    time_unix_nano: int
    model: str
    requests: int
    error_rate: float
    latency_ms: dict[str, float]
    tokens_per_second: float | None
    cost_usd: float


class Overview(msgspec.Struct):
    since_unix_nano: int
    until_unix_nano: int
    bucket_s: int
    models: list[ModelFigures]
    buckets: list[BucketFigures]


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]
    dependencies = {
        "tenant": Provide(provide_reader, sync_to_thread=True),
        "window": Provide(last_day, sync_to_thread=False),
    }

    @get("/overview", sync_to_thread=True)
    def overview(
        self,
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
        window: NamedDependency[TimeRange],
        bucket_s: Annotated[int, QueryParameter(ge=60, le=86_400)] = 3600,
    ) -> Overview:
        """Per model: requests, error rate, latency and TTFT percentiles, tokens/s, GPU
        utilization and cost, over the range and per time bucket."""
        lo, hi = window.since_ns, window.until_ns
        models, buckets = backend.spans.overview(tenant, lo, hi, bucket_s)
        return Overview(
            lo, hi, bucket_s, [model_figures(r) for r in models], [bucket(r) for r in buckets]
        )


def model_figures(r: dict[str, Any]) -> ModelFigures:
    return ModelFigures(
        r["model"],
        int(r["requests"]),
        float(r["error_rate"]),
        percentiles(r["latency_ms"]),
        percentiles(r["ttft_ms"]) if finite(r["ttft_ms"]) else None,
        optional_number(r["tokens_per_second"]),
        int(r["tokens_input"]),
        int(r["tokens_output"]),
        optional_number(r["gpu_utilization"]),
        float(r["gpu_seconds"]),
        float(r["cost_usd"]),
    )


def bucket(r: dict[str, Any]) -> BucketFigures:
    return BucketFigures(
        int(r["bucket_ns"]),
        r["model"],
        int(r["requests"]),
        float(r["error_rate"]),
        percentiles(r["latency_ms"]),
        optional_number(r["tokens_per_second"]),
        float(r["cost_usd"]),
    )
