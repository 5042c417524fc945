"""``/api/v1/gpus``: the tenant's GPU registry and each GPU's gauge series."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter

from axonize_backend.api.auth import provide_reader
from axonize_backend.api.params import TimeRange, last_hour
from axonize_backend.api.problems import NotFoundProblem
from axonize_backend.render import jsonable
from axonize_backend.service import Backend


class SeriesPoint(msgspec.Struct):
    time_unix_nano: int
    avg: float
    max: float
    samples: int


class GpuSeries(msgspec.Struct):
    gpu_uuid: str
    step_s: int
    series: dict[str, list[SeriesPoint]]


class GpuController(Controller):
    path = "/api/v1/gpus"
    tags = ["gpus"]
    dependencies = {
        "tenant": Provide(provide_reader, sync_to_thread=True),
        "window": Provide(last_hour, sync_to_thread=False),
    }

    @get("/", sync_to_thread=True)
    def list_gpus(
        self, backend: NamedDependency[Backend], tenant: NamedDependency[str]
    ) -> list[dict[str, Any]]:
        """The tenant's GPU registry: physical GPUs, compute resources, runtime contexts."""
        return [jsonable(g) for g in backend.tenants.gpus(tenant)]

    @get("/{gpu_uuid:str}", sync_to_thread=True)
    def get_gpu(
        self,
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
        gpu_uuid: FromPath[str],
    ) -> dict[str, Any]:
        found = backend.tenants.gpus(tenant, gpu_uuid)
        if not found:
            raise NotFoundProblem(f"no GPU {gpu_uuid}")
        gpu: dict[str, Any] = jsonable(found[0])
        return gpu

    @get("/{gpu_uuid:str}/metrics", sync_to_thread=True)
    def gpu_metrics(
        self,
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
        window: NamedDependency[TimeRange],
        gpu_uuid: FromPath[str],
        step_s: Annotated[int, QueryParameter(ge=1, le=86_400)] = 60,
        metric: FromQuery[str | None] = None,
    ) -> GpuSeries:
        """A GPU's gauge series (``gpu.utilization``, ...), averaged per ``step_s``."""
        rows = backend.spans.gpu_series(
            tenant, gpu_uuid, window.since_ns, window.until_ns, step_s, metric
        )
        series: dict[str, list[SeriesPoint]] = {}
        for r in rows:
            series.setdefault(r["metric"], []).append(
                SeriesPoint(
                    int(r["bucket_ns"]), float(r["avg"]), float(r["max"]), int(r["samples"])
                )
            )
        if not series and not backend.tenants.gpus(tenant, gpu_uuid):
            raise NotFoundProblem(f"no GPU {gpu_uuid}")
        return GpuSeries(gpu_uuid, step_s, series)
