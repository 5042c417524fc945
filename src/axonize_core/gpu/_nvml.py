"""NVIDIA GPUs through NVML (``nvidia-ml-py``, the ``axonize[nvidia]`` extra), MIG included.

:class:`NvmlBackend` takes the NVML library as an object with pynvml's functions: the real
``pynvml`` module, or :class:`~axonize_core.gpu._simulated.SimulatedNvml`, which simulates only
those hardware calls.  So the code here is the code that runs on a real GPU.

On a MIG instance NVML reports memory but not utilization (NOT_SUPPORTED): utilization is then
absent, not zero.  Power, temperature and energy exist only for the whole GPU; a MIG instance
gets the GPU's temperature, and its power and energy scaled by its share of the compute slices
(an estimate, said so in docs/semconv.md).
"""

from __future__ import annotations

from typing import Any

from axonize_core.gpu._types import DiscoveredGPU, GpuError, GpuSample

_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_NOT_FOUND = 6
_GPU_IS_LOST = 15
_REASONS = {_NOT_SUPPORTED: "not supported", _NO_PERMISSION: "permission denied",
            _NOT_FOUND: "not found", _GPU_IS_LOST: "GPU is lost"}
_TEMPERATURE_GPU = 0
_CLOCK_SM = 1
_MAX_SLICES = 7  # compute slices of a MIG-capable GPU (A100, H100, H200, B200)
#: The energy counter is slow to read (measured: ~4 ms of CPU per call on an H100 VM, against
#: ~2 us for power): read it at most this often per device; power samples fill the gaps.
ENERGY_EVERY_NS = 30_000_000_000


def load_pynvml() -> Any:
    """The real NVML bindings, initialised; raises ImportError or the NVML error."""
    import pynvml  # type: ignore[import-not-found,import-untyped,unused-ignore]

    pynvml.nvmlInit()
    return pynvml


class NvmlBackend:
    name = "nvml"
    vendor = "nvidia"

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self._handles: dict[str, Any] = {}  # uuid -> device handle
        self._energy_at: dict[str, int] = {}  # uuid -> when its energy counter was last read
        self.energy_every_ns = ENERGY_EVERY_NS
        self._parents: dict[str, Any] = {}  # MIG uuid -> parent handle

    def _error(self, exc: Exception, device: str) -> GpuError:
        code = getattr(exc, "value", None)
        return GpuError(_REASONS.get(code, str(exc)) if isinstance(code, int) else str(exc),
                        device)

    def _text(self, value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def discover(self) -> list[DiscoveredGPU]:
        lib = self.lib
        found: list[DiscoveredGPU] = []
        for index in range(lib.nvmlDeviceGetCount()):
            handle = lib.nvmlDeviceGetHandleByIndex(index)
            uuid = self._text(lib.nvmlDeviceGetUUID(handle))
            name = self._text(lib.nvmlDeviceGetName(handle))
            total = int(lib.nvmlDeviceGetMemoryInfo(handle).total)
            self._handles[uuid] = handle
            found.append(DiscoveredGPU(index, uuid, name, self.vendor, total))
            found.extend(self._mig_instances(index, handle, uuid, name))
        return found

    def _mig_instances(self, index: int, handle: Any, uuid: str,
                       name: str) -> list[DiscoveredGPU]:
        lib = self.lib
        try:
            current, _pending = lib.nvmlDeviceGetMigMode(handle)
        except lib.NVMLError:
            return []  # not MIG-capable
        if not current:
            return []
        out = []
        for slot in range(lib.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig = lib.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except lib.NVMLError:
                continue  # an empty slot
            mig_uuid = self._text(lib.nvmlDeviceGetUUID(mig))
            attrs = lib.nvmlDeviceGetAttributes(mig)
            slices = int(attrs.gpuInstanceSliceCount)
            memory_mb = int(attrs.memorySizeMB)
            profile = f"{slices}g.{round(memory_mb / 1024)}gb"
            self._handles[mig_uuid] = mig
            self._parents[mig_uuid] = handle
            out.append(DiscoveredGPU(
                index, mig_uuid, name, self.vendor, memory_mb * 1024 * 1024,
                parent_uuid=uuid, profile=profile,
                gpu_instance_id=int(lib.nvmlDeviceGetGpuInstanceId(mig)),
                compute_instance_id=int(lib.nvmlDeviceGetComputeInstanceId(mig)),
                fraction=slices / _MAX_SLICES))
        return out

    def sample(self, gpu: DiscoveredGPU, time_ns: int) -> GpuSample:
        lib = self.lib
        handle = self._handles.get(gpu.uuid)
        if handle is None:
            raise GpuError("unknown device", gpu.uuid)
        whole = self._parents.get(gpu.uuid, handle)
        try:
            memory_used = int(lib.nvmlDeviceGetMemoryInfo(handle).used)
            utilization: float | None = None
            if not gpu.is_mig:
                rates = self._optional(lib.nvmlDeviceGetUtilizationRates, handle)
                utilization = None if rates is None else float(rates.gpu)
            power = self._optional(lib.nvmlDeviceGetPowerUsage, whole)
            temperature = self._optional(lib.nvmlDeviceGetTemperature, whole, _TEMPERATURE_GPU)
            clock = self._optional(lib.nvmlDeviceGetClockInfo, whole, _CLOCK_SM)
            energy = None
            if time_ns - self._energy_at.get(gpu.uuid, 0) >= self.energy_every_ns:
                self._energy_at[gpu.uuid] = time_ns
                energy = self._optional(lib.nvmlDeviceGetTotalEnergyConsumption, whole)
        except lib.NVMLError as exc:
            raise self._error(exc, gpu.uuid) from None
        share = gpu.fraction
        return GpuSample(
            time_ns, utilization, memory_used,
            None if power is None else power / 1000.0 * share,
            None if temperature is None else float(temperature),
            None if energy is None else energy / 1000.0 * share,
            None if clock is None else float(clock))

    def _optional(self, fn: Any, *args: Any) -> Any:
        """A reading some boards do not have: None when NOT_SUPPORTED, other errors raise."""
        try:
            return fn(*args)
        except self.lib.NVMLError as exc:
            if getattr(exc, "value", None) == _NOT_SUPPORTED:
                return None
            raise

    def close(self) -> None:
        try:
            self.lib.nvmlShutdown()
        except Exception:
            pass
