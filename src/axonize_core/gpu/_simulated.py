"""A simulated NVML library: GPUs for machines without one (tests, the demo, the bench).

:class:`SimulatedNvml` has the pynvml functions :class:`~axonize_core.gpu._nvml.NvmlBackend`
calls, answering from a topology instead of hardware.  Only these hardware calls are simulated:
the NVML backend, the profiler, the attribution to spans and the costs above them are the code
that runs on a real GPU.

Topology (``AXONIZE_GPU_SIMULATE``): comma-separated devices, each ``[N x]MODEL[:mig=P+P...]``,
e.g. ``h100,a100:mig=1g.10gb+2g.20gb+3g.40gb`` (the default) or ``8xh100``.  Models: h200,
h100, a100, a100-40gb, l40s, l4, a10g, t4.  Load follows a slow sine per device (each with its
own phase); :meth:`set_utilization` pins it, and :meth:`fail` makes a device raise an NVML
error (``gpu_is_lost``, ``no_permission``, ``not_supported``) from then on.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

DEFAULT_TOPOLOGY = "h100,a100:mig=1g.10gb+2g.20gb+3g.40gb"

# model -> (NVML name, memory GiB, idle W, max W, supports MIG)
MODELS: dict[str, tuple[str, int, float, float, bool]] = {
    "h200": ("NVIDIA H200", 141, 90.0, 700.0, True),
    "h100": ("NVIDIA H100 80GB HBM3", 80, 70.0, 700.0, True),
    "a100": ("NVIDIA A100-SXM4-80GB", 80, 55.0, 400.0, True),
    "a100-40gb": ("NVIDIA A100-SXM4-40GB", 40, 50.0, 400.0, True),
    "l40s": ("NVIDIA L40S", 48, 35.0, 350.0, False),
    "l4": ("NVIDIA L4", 24, 16.0, 72.0, False),
    "a10g": ("NVIDIA A10G", 24, 25.0, 300.0, False),
    "t4": ("Tesla T4", 16, 10.0, 70.0, False),
}

ERRORS = {"uninitialized": 1, "not_supported": 3, "no_permission": 4, "not_found": 6,
          "gpu_is_lost": 15}


class NVMLError(Exception):
    """Raised like pynvml's: ``value`` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


class _Memory(NamedTuple):
    total: int
    used: int
    free: int


class _Utilization(NamedTuple):
    gpu: int
    memory: int


class _Attributes(NamedTuple):
    gpuInstanceSliceCount: int
    computeInstanceSliceCount: int
    memorySizeMB: int


@dataclass
class _Device:
    index: int
    uuid: str
    name: str
    memory: int
    idle_w: float
    max_w: float
    mig_capable: bool
    phase: float
    parent: _Device | None = None
    slices: int = 0
    gi: int = -1
    ci: int = -1
    children: list[_Device] = field(default_factory=list)
    pinned: float | None = None
    error: int = 0
    energy_mj: float = 0.0
    last_ns: int = 0


def _uuid(kind: str, n: int) -> str:
    return f"{kind}-{n:08x}-5a1e-4d0c-8a70-{0xA70_0000_0000 + n:012x}"


def parse_topology(spec: str) -> list[tuple[str, list[str]]]:
    """``"2xh100,a100:mig=1g.10gb+3g.40gb"`` -> [(h100, []), (h100, []), (a100, [...])]."""
    out: list[tuple[str, list[str]]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        model, _, mig = part.partition(":")
        count = 1
        if "x" in model and model.split("x", 1)[0].isdigit():
            n, model = model.split("x", 1)
            count = int(n)
        model = model.strip().lower()
        if model not in MODELS:
            raise ValueError(f"unknown simulated GPU model {model!r}; "
                             f"one of {', '.join(MODELS)}")
        profiles: list[str] = []
        if mig:
            key, _, value = mig.partition("=")
            if key.strip() != "mig" or not value:
                raise ValueError(f"expected {model}:mig=1g.10gb+..., got {part!r}")
            if not MODELS[model][4]:
                raise ValueError(f"{model} has no MIG mode")
            profiles = [p.strip() for p in value.split("+") if p.strip()]
            if sum(_slices(p) for p in profiles) > 7:
                raise ValueError(f"MIG profiles {value!r} need more than 7 slices")
        out.extend((model, list(profiles)) for _ in range(count))
    if not out:
        raise ValueError("empty GPU topology")
    return out


def _slices(profile: str) -> int:
    head = profile.split("g.", 1)[0]
    if not head.isdigit() or not profile.endswith("gb"):
        raise ValueError(f"MIG profile {profile!r} is not like 1g.10gb")
    return int(head)


class SimulatedNvml:
    """The subset of pynvml that the NVML backend uses, over a simulated topology."""

    NVMLError = NVMLError

    def __init__(self, topology: str = DEFAULT_TOPOLOGY, period_s: float = 20.0) -> None:
        self.period_s = period_s
        self.calls = 0  # hardware calls made (the bench counts them)
        self._lock = threading.Lock()
        self._devices: list[_Device] = []
        self._by_uuid: dict[str, _Device] = {}
        mig_n = 0
        for i, (model, profiles) in enumerate(parse_topology(topology)):
            name, mem_gib, idle, top, capable = MODELS[model]
            dev = _Device(i, _uuid("GPU", i + 1), name, mem_gib << 30, idle, top, capable,
                          phase=i * 1.7)
            for gi, profile in enumerate(profiles):
                mig_n += 1
                mem_gb = int(profile.split(".", 1)[1][:-2])
                child = _Device(i, _uuid("MIG", mig_n), name, mem_gb << 30, 0, 0, False,
                                phase=dev.phase + gi, parent=dev, slices=_slices(profile),
                                gi=gi + 1, ci=0)
                dev.children.append(child)
                self._by_uuid[child.uuid] = child
            self._devices.append(dev)
            self._by_uuid[dev.uuid] = dev
        self.initialized = False

    # -- control (tests and the demo) --------------------------------------------------
    def set_utilization(self, index: int, pct: float | None) -> None:
        """Pin GPU ``index``'s utilization (None: back to the sine)."""
        self._devices[index].pinned = pct

    def fail(self, index_or_uuid: int | str, error: str | None) -> None:
        """From now on every call on this device raises ``error`` (None: healthy again)."""
        dev = (self._devices[index_or_uuid] if isinstance(index_or_uuid, int)
               else self._by_uuid[index_or_uuid])
        dev.error = ERRORS[error] if error else 0

    def uuids(self) -> list[str]:
        return [d.uuid for d in self._devices]

    # -- the NVML functions ----------------------------------------------------------------
    def _check(self, dev: _Device) -> _Device:
        self.calls += 1
        if not self.initialized:
            raise NVMLError(ERRORS["uninitialized"])
        root = dev.parent or dev
        if dev.error or root.error:
            raise NVMLError(dev.error or root.error)
        return dev

    def nvmlInit(self) -> None:
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        if not self.initialized:
            raise NVMLError(ERRORS["uninitialized"])
        return len(self._devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Device:
        return self._check(self._devices[index])

    def nvmlDeviceGetUUID(self, h: _Device) -> str:
        return self._check(h).uuid

    def nvmlDeviceGetName(self, h: _Device) -> str:
        return self._check(h).name

    def nvmlDeviceGetMemoryInfo(self, h: _Device) -> _Memory:
        dev = self._check(h)
        # A MIG-enabled GPU holds what its instances hold.
        used = sum(self._used(c) for c in dev.children) if dev.children else self._used(dev)
        return _Memory(dev.memory, used, dev.memory - used)

    def nvmlDeviceGetUtilizationRates(self, h: _Device) -> _Utilization:
        dev = self._check(h)
        if dev.parent is not None:
            raise NVMLError(ERRORS["not_supported"])  # as on real MIG instances
        pct = round(self._load(dev))
        return _Utilization(pct, pct // 2)

    def nvmlDeviceGetPowerUsage(self, h: _Device) -> int:
        dev = self._check(h)
        return round(self._power_w(dev) * 1000)

    def nvmlDeviceGetTemperature(self, h: _Device, sensor: int) -> int:
        dev = self._check(h)
        return round(35 + 45 * self._load(dev) / 100)

    def nvmlDeviceGetClockInfo(self, h: _Device, clock_type: int) -> int:
        dev = self._check(h)
        return round(1100 + 880 * self._load(dev) / 100)

    def nvmlDeviceGetTotalEnergyConsumption(self, h: _Device) -> int:
        dev = self._check(h)
        now = time.monotonic_ns()
        with self._lock:
            if dev.last_ns:
                dev.energy_mj += self._power_w(dev) * (now - dev.last_ns) / 1e6
            dev.last_ns = now
            return int(dev.energy_mj)

    def nvmlDeviceGetMigMode(self, h: _Device) -> list[int]:
        dev = self._check(h)
        if not dev.mig_capable:
            raise NVMLError(ERRORS["not_supported"])
        on = 1 if dev.children else 0
        return [on, on]

    def nvmlDeviceGetMaxMigDeviceCount(self, h: _Device) -> int:
        self._check(h)
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: _Device, i: int) -> _Device:
        dev = self._check(h)
        if i >= len(dev.children):
            raise NVMLError(ERRORS["not_found"])
        return dev.children[i]

    def nvmlDeviceGetGpuInstanceId(self, h: _Device) -> int:
        return self._check(h).gi

    def nvmlDeviceGetComputeInstanceId(self, h: _Device) -> int:
        return self._check(h).ci

    def nvmlDeviceGetAttributes(self, h: _Device) -> _Attributes:
        dev = self._check(h)
        return _Attributes(dev.slices, dev.slices, dev.memory >> 20)

    # -- the simulated physics ---------------------------------------------------------------
    def _load(self, dev: _Device) -> float:
        root = dev.parent or dev
        if root.pinned is not None:
            return root.pinned
        t = time.monotonic() / self.period_s * 2 * math.pi
        return 50 + 40 * math.sin(t + dev.phase)

    def _power_w(self, dev: _Device) -> float:
        root = dev.parent or dev
        return root.idle_w + (root.max_w - root.idle_w) * self._load(root) / 100

    def _used(self, dev: _Device) -> int:
        return int(dev.memory * (0.2 + 0.5 * self._load(dev) / 100))
