"""What a GPU backend reports: discovered devices and their samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DiscoveredGPU:
    """One device a process can run on: a whole GPU, or a MIG instance of one.

    ``uuid`` is the GPU UUID, or the MIG instance's own UUID (``MIG-...``).  For a MIG instance
    ``parent_uuid`` is the physical GPU, ``profile`` the MIG profile (``1g.10gb``) and
    ``fraction`` the share of the GPU's compute slices it owns (what it is priced at).
    """

    index: int  # NVML index of the physical GPU
    uuid: str
    name: str
    vendor: str
    memory_total_bytes: int
    parent_uuid: str = ""
    profile: str = ""
    gpu_instance_id: int = -1
    compute_instance_id: int = -1
    fraction: float = 1.0

    @property
    def is_mig(self) -> bool:
        return bool(self.parent_uuid)

    @property
    def physical_uuid(self) -> str:
        return self.parent_uuid or self.uuid

    @property
    def compute_resource_id(self) -> str:
        """The GPU UUID, or ``<gpu uuid>/<gpu instance>/<compute instance>`` for MIG."""
        if self.is_mig:
            return f"{self.parent_uuid}/{self.gpu_instance_id}/{self.compute_instance_id}"
        return self.uuid


@dataclass(frozen=True)
class GpuSample:
    """One reading of one device.  ``None`` where the device cannot report the figure."""

    time_ns: int
    utilization_pct: float | None
    memory_used_bytes: int | None
    power_w: float | None
    temperature_c: float | None
    energy_j: float | None  # the device's cumulative energy counter, if it has one
    sm_clock_mhz: float | None = None


class GPUBackend(Protocol):
    """The hardware boundary: everything above it is the same for every vendor."""

    name: str
    vendor: str

    def discover(self) -> list[DiscoveredGPU]:
        """Every device visible on this machine (whole GPUs and MIG instances)."""

    def sample(self, gpu: DiscoveredGPU, time_ns: int) -> GpuSample:
        """Read one device now.  May raise :class:`GpuError`."""

    def close(self) -> None:
        """Release the library."""


class GpuError(Exception):
    """A device could not be read (lost, no permission, ...).  ``reason`` says which."""

    def __init__(self, reason: str, device: str = "") -> None:
        super().__init__(f"{device}: {reason}" if device else reason)
        self.reason = reason
        self.device = device
