"""``/api/v1/analytics``: per-model figures over a time range and per time bucket."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from axonize_backend.api.auth import provide_reader
from axonize_backend.api.params import TimeRange, last_day
from axonize_backend.render import finite, optional_number, percentiles
from axonize_backend.service import Backend
from axonize_core.semconv import OWNER_ATTRIBUTES


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


class BudgetState(msgspec.Struct):
    name: str
    limit_usd: float
    spent_usd: float
    exceeded: bool


class CostGroup(msgspec.Struct):
    owner: str  # "" for spans without the attribute
    spans: int
    cost_usd: float
    gpu_seconds: float
    budget: BudgetState | None  # the latest budget marks of the group's spans, if any


class CostByOwner(msgspec.Struct):
    since_unix_nano: int
    until_unix_nano: int
    group_by: str
    groups: list[CostGroup]


GroupBy = Literal["team", "project", "customer_id", "cost_center", "feature", "environment"]


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


    @get("/cost", sync_to_thread=True)
    def cost(
        self,
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
        window: NamedDependency[TimeRange],
        group_by: Annotated[GroupBy, QueryParameter()] = "team",
    ) -> CostByOwner:
        """Cost, spans and GPU-seconds per owner (``owner.<group_by>``, set by the SDK's
        ``axonize.owner`` or the collector's governance processor), with each owner's budget
        state as the collector's budget processor last marked it."""
        rows = backend.spans.cost_by(tenant, window.since_ns, window.until_ns,
                                     OWNER_ATTRIBUTES[group_by])
        return CostByOwner(window.since_ns, window.until_ns, group_by,
                           [cost_group(r) for r in rows])


def cost_group(r: dict[str, Any]) -> CostGroup:
    budget = None
    if r["budget"]:
        budget = BudgetState(str(r["budget"]), _float(r["limit"]), _float(r["spent"]),
                             str(r["exceeded"]).lower() in ("true", "1"))
    return CostGroup(str(r["owner"]), int(r["spans"]), float(r["cost_usd"]),
                     float(r["gpu_seconds"]), budget)


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


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
