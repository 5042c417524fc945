"""The GPU registry's records from what spans say of their GPUs (``gpu.N.*`` attributes)."""

from __future__ import annotations

from axonize_backend.schema import GPU_FIELDS
from axonize_backend.tenants import GpuRecord
from axonize_core import semconv as sc


def gpu_record(service: str, fields: list[str]) -> GpuRecord | None:
    """A registry record from one row of :func:`~axonize_backend.sql.gpu_records_sql` (None
    without a uuid).  A compute resource ``<gpu uuid>/<instance>`` (a MIG instance) belongs to
    the physical GPU before the slash."""
    # Text from spans, as PostgreSQL can hold it (no NUL).
    service = service.replace("\x00", "")
    f = dict(zip(GPU_FIELDS, (x.replace("\x00", "") for x in fields), strict=False))
    device_uuid = f.get(sc.GPU_UUID, "")
    if not device_uuid:
        return None
    resource_id = f.get(sc.GPU_COMPUTE_RESOURCE_ID) or device_uuid
    total = _number(f.get(sc.GPU_MEMORY_TOTAL_BYTES, ""))
    return GpuRecord(
        gpu_uuid=resource_id.split("/", 1)[0] if "/" in resource_id else device_uuid,
        device_uuid=device_uuid,
        compute_resource_id=resource_id,
        model=f.get(sc.GPU_NAME, ""),
        vendor=f.get(sc.GPU_VENDOR, ""),
        mig_profile=f.get(sc.GPU_MIG_PROFILE, ""),
        memory_total_bytes=None if total is None else int(total),
        context=f.get(sc.GPU_RUNTIME_CONTEXT, ""),
        node=f.get(sc.GPU_NODE, ""),
        pod=f.get(sc.GPU_POD, ""),
        namespace=f.get(sc.GPU_NAMESPACE, ""),
        container=f.get(sc.GPU_CONTAINER, ""),
        service=service,
    )


def _number(text: str) -> float | None:
    """A byte count as PostgreSQL's ``bigint`` holds it (None if it is not one)."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    if value is None or not 0 <= value < 2**63:
        return None  # NaN, infinite, negative or too large
    return value
