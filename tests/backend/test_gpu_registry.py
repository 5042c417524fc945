"""GPU registry records from what spans say of their GPUs."""

from __future__ import annotations

from axonize_backend.gpu_registry import gpu_record
from axonize_backend.schema import GPU_FIELDS


def _fields(**values: str) -> list[str]:
    return [values.get(f.replace(".", "_"), "") for f in GPU_FIELDS]


def test_a_mig_instance_belongs_to_the_gpu_before_the_slash() -> None:
    record = gpu_record("svc", _fields(uuid="MIG-7", compute_resource_id="GPU-1/3",
                                       mig_profile="3g.40gb", memory_total_bytes="42.0"))
    assert record is not None
    assert (record.gpu_uuid, record.device_uuid, record.compute_resource_id) == (
        "GPU-1", "MIG-7", "GPU-1/3")
    assert (record.mig_profile, record.memory_total_bytes, record.service) == (
        "3g.40gb", 42, "svc")


def test_a_whole_gpu_is_its_own_compute_resource() -> None:
    record = gpu_record("svc", _fields(uuid="GPU-2", name="H100", memory_total_bytes="oops"))
    assert record is not None
    assert (record.gpu_uuid, record.compute_resource_id, record.model) == (
        "GPU-2", "GPU-2", "H100")
    assert record.memory_total_bytes is None  # not a number: unknown


def test_no_uuid_no_record() -> None:
    assert gpu_record("svc", _fields(name="H100")) is None
    assert gpu_record("svc", []) is None
