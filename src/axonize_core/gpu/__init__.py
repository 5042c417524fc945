"""GPU discovery, sampling and attribution: NVML (MIG included), Apple Silicon, simulated, none.

:func:`create_backend` picks the backend (``AXONIZE_GPU_BACKEND=auto|nvml|apple|simulated|
none``; ``auto`` tries NVIDIA, then Apple Silicon, then none) and :class:`GpuProfiler` samples it
and attributes the samples to spans that called ``set_gpus``.
"""

from __future__ import annotations

from axonize_core._log import logger
from axonize_core.gpu._nvml import NvmlBackend
from axonize_core.gpu._profiler import DeviceSeries, GpuProfiler, visible_devices
from axonize_core.gpu._simulated import DEFAULT_TOPOLOGY, SimulatedNvml, parse_topology
from axonize_core.gpu._types import DiscoveredGPU, GPUBackend, GpuError, GpuSample

BACKENDS = ("auto", "nvml", "apple", "simulated", "none")


def create_backend(name: str = "auto", simulate: str = "") -> GPUBackend | None:
    """The backend called ``name``, or None (with the reason logged) when it cannot run here."""
    name = name or "auto"
    if name == "none":
        return None
    if name == "simulated":
        lib = SimulatedNvml(simulate or DEFAULT_TOPOLOGY)
        lib.nvmlInit()
        return NvmlBackend(lib)
    if name in ("nvml", "auto"):
        try:
            from axonize_core.gpu._nvml import load_pynvml

            return NvmlBackend(load_pynvml())
        except ImportError:
            reason = "nvidia-ml-py is not installed (pip install 'axonize[nvidia]')"
        except Exception as exc:  # NVMLError: no driver, no device
            reason = f"NVML cannot start: {exc}"
        if name == "nvml":
            logger.warning("axonize: GPU backend nvml unavailable: %s", reason)
            return None
        logger.debug("axonize: no NVIDIA GPU: %s", reason)
    if name in ("apple", "auto"):
        from axonize_core.gpu import _apple

        if _apple.available():
            try:
                return _apple.AppleBackend()
            except Exception as exc:
                logger.warning("axonize: GPU backend apple unavailable: %s", exc)
                return None
        if name == "apple":
            logger.warning("axonize: GPU backend apple needs macOS on Apple Silicon")
    return None


__all__ = [
    "BACKENDS",
    "DEFAULT_TOPOLOGY",
    "DeviceSeries",
    "DiscoveredGPU",
    "GPUBackend",
    "GpuError",
    "GpuProfiler",
    "GpuSample",
    "NvmlBackend",
    "SimulatedNvml",
    "create_backend",
    "parse_topology",
    "visible_devices",
]
