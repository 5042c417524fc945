"""The GPU profiler: a sampling thread, bounded series per device, and span attribution.

The sampler reads every device every ``interval`` into a bounded series.  A span that called
``set_gpus(["cuda:0"])`` carries only those names on the caller's thread; when the exporter
thread encodes it, :meth:`GpuProfiler.enrich` resolves each name to the device the process
meant (``CUDA_VISIBLE_DEVICES`` by index, GPU UUID or MIG UUID) and aggregates the series over
the span's window into ``gpu.N.*`` attributes, GPU-seconds and costs.  The caller pays only for
storing a tuple.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from axonize_core import semconv as sc
from axonize_core._log import debug_once, logger
from axonize_core.gpu._types import DiscoveredGPU, GPUBackend, GpuError, GpuSample

#: Kubernetes downward-API variables, first match wins.
POD_VARS = ("K8S_POD_NAME", "POD_NAME")
NAMESPACE_VARS = ("K8S_NAMESPACE_NAME", "K8S_NAMESPACE", "POD_NAMESPACE")
CONTAINER_VARS = ("K8S_CONTAINER_NAME", "CONTAINER_NAME")
NODE_VARS = ("K8S_NODE_NAME", "NODE_NAME")
RETRY_FAILED_S = 5.0


class DeviceSeries:
    """Samples of one device, oldest first, at most ``capacity`` (older ones are dropped)."""

    __slots__ = ("capacity", "energy_j", "gpu", "lock", "samples", "times")

    def __init__(self, gpu: DiscoveredGPU, capacity: int) -> None:
        self.gpu = gpu
        self.capacity = capacity
        self.times: list[int] = []
        self.samples: list[GpuSample] = []
        self.energy_j: float | None = None  # the last reading of the energy counter
        self.lock = threading.Lock()  # sampler and exporter threads only

    def append(self, sample: GpuSample) -> None:
        with self.lock:
            if sample.energy_j is not None:
                self.energy_j = sample.energy_j
            self.times.append(sample.time_ns)
            self.samples.append(sample)
            if len(self.times) > 2 * self.capacity:  # amortised trim
                del self.times[:-self.capacity]
                del self.samples[:-self.capacity]

    def window(self, start_ns: int, end_ns: int) -> list[GpuSample]:
        """Samples taken during [start, end]; else the one closest before the end."""
        with self.lock:
            lo = bisect.bisect_left(self.times, start_ns)
            hi = bisect.bisect_right(self.times, end_ns)
            if hi > lo:
                return self.samples[lo:hi]
            if hi > 0:
                return [self.samples[hi - 1]]
            return self.samples[:1]

    def latest(self) -> GpuSample | None:
        """The last sample, with the last energy reading (the counter is read less often)."""
        with self.lock:
            if not self.samples:
                return None
            last = self.samples[-1]
            if last.energy_j is None and self.energy_j is not None:
                last = dataclasses.replace(last, energy_j=self.energy_j)
            return last


def runtime_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Node, pod, namespace and container of this process (what the GPU registry keys on)."""

    def first(names: tuple[str, ...]) -> str:
        return next((environ[n] for n in names if environ.get(n)), "")

    out = {sc.GPU_NODE: first(NODE_VARS) or socket.gethostname()}
    for key, names in ((sc.GPU_POD, POD_VARS), (sc.GPU_NAMESPACE, NAMESPACE_VARS),
                       (sc.GPU_CONTAINER, CONTAINER_VARS)):
        value = first(names)
        if value:
            out[key] = value
    return out


def visible_devices(devices: list[DiscoveredGPU], cuda_visible: str | None) -> list[DiscoveredGPU]:
    """The devices a CUDA process enumerates as ``cuda:0``, ``cuda:1``, ... .

    Without ``CUDA_VISIBLE_DEVICES``: every GPU in NVML (PCI bus) order, a MIG-enabled GPU
    contributing its instances.  With it: the listed entries in order (index, ``GPU-`` UUID or
    prefix, ``MIG-`` UUID, or the older ``MIG-GPU-<uuid>/<gi>/<ci>``), stopping at the first
    entry that names nothing, as CUDA does.  CUDA orders devices fastest first unless
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; set it on multi-model machines so that the two agree.
    """
    whole = [d for d in devices if not d.is_mig]
    if cuda_visible is None:
        out: list[DiscoveredGPU] = []
        for gpu in whole:
            instances = [d for d in devices if d.parent_uuid == gpu.uuid]
            out.extend(instances or [gpu])
        return out
    out = []
    for entry in (e.strip() for e in cuda_visible.split(",")):
        found: DiscoveredGPU | None = None
        if entry.isdigit():
            found = next((d for d in whole if d.index == int(entry)), None)
        elif entry.startswith("MIG-GPU-"):
            gpu_uuid, _, rest = entry[len("MIG-"):].partition("/")
            gi, _, ci = rest.partition("/")
            found = next((d for d in devices if d.parent_uuid == gpu_uuid
                          and str(d.gpu_instance_id) == gi and str(d.compute_instance_id) == ci),
                         None)
        elif entry.startswith(("GPU-", "MIG-")) and len(entry) > 4:
            matches = [d for d in devices if d.uuid.startswith(entry)]
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            break
        out.append(found)
    return out


class GpuProfiler:
    """Samples every device of ``backend`` on a daemon thread; attributes spans to devices."""

    def __init__(self, backend: GPUBackend, interval_s: float = 0.1, history_s: float = 600.0,
                 environ: Mapping[str, str] | None = None, prices: Any = None) -> None:
        env = os.environ if environ is None else environ
        self.backend = backend
        self.interval_s = interval_s
        self.devices = backend.discover()
        capacity = max(16, int(history_s / interval_s))
        self.series = {d.uuid: DeviceSeries(d, capacity) for d in self.devices}
        self.visible = visible_devices(self.devices, env.get("CUDA_VISIBLE_DEVICES"))
        self.runtime = runtime_environment(env)
        self.prices = prices
        self._resolved: dict[str, DiscoveredGPU | None] = {}
        self._failed: dict[str, float] = {}  # uuid -> monotonic time of the last failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples_taken = 0

    # ------------------------------------------------------------------ sampling
    def start(self) -> GpuProfiler:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="axonize-gpu", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def after_fork(self) -> None:
        """In a forked child: the sampling thread did not survive; start a new one."""
        self._thread = None
        self.start()

    def _run(self) -> None:
        interval = self.interval_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspended, overloaded): do not burst to catch up
                next_at = time.monotonic()
                delay = interval
            self._stop.wait(delay)

    def sample_once(self) -> None:
        now = time.time_ns()
        mono = time.monotonic()
        failed = self._failed
        for uuid, series in self.series.items():
            since = failed.get(uuid)
            if since is not None and mono - since < RETRY_FAILED_S:
                continue
            try:
                series.append(self.backend.sample(series.gpu, now))
                if since is not None:
                    del failed[uuid]
            except GpuError as exc:
                failed[uuid] = mono
                debug_once(f"gpu-{uuid}-{exc.reason}", "axonize: GPU %s cannot be read: %s",
                           uuid, exc.reason)
            except Exception:
                failed[uuid] = mono
                debug_once(f"gpu-{uuid}", "axonize: GPU %s sampling failed", uuid,
                           exc_info=True)
        self.samples_taken += 1

    # ------------------------------------------------------------------ attribution
    def resolve(self, context: str) -> DiscoveredGPU | None:
        """``cuda:0`` (or ``0``, ``cuda``, a GPU/MIG UUID, ``mps``) -> the device meant."""
        try:
            return self._resolved[context]
        except KeyError:
            pass
        found: DiscoveredGPU | None = None
        name = context.strip()
        index: int | None = None
        if name in ("cuda", "mps", "gpu"):
            index = 0
        elif name.startswith(("cuda:", "gpu:")) and name[name.index(":") + 1:].isdigit():
            index = int(name[name.index(":") + 1:])
        elif name.isdigit():
            index = int(name)
        elif name.startswith(("GPU-", "MIG-")):
            found = next((d for d in self.devices if d.uuid == name), None)
        if index is not None and index < len(self.visible):
            found = self.visible[index]
        if len(self._resolved) < 1024:
            self._resolved[context] = found
        return found

    def enrich(self, gpus: Any, start_ns: int, end_ns: int, out: dict[str, Any]) -> None:
        """Add ``gpu.N.*``, ``gpu.count`` and GPU costs for a span's window to ``out``."""
        duration_s = max(0, end_ns - start_ns) / 1e9
        gpu_seconds = gpu_usd = energy_usd = 0.0
        priced_gpu = priced_energy = False
        count = 0
        for i, context in enumerate(gpus):
            gpu = self.resolve(str(context))
            if gpu is None:
                continue
            count += 1
            p = f"gpu.{i}."
            out[p + sc.GPU_UUID] = gpu.uuid
            out[p + sc.GPU_NAME] = gpu.name
            out[p + sc.GPU_VENDOR] = gpu.vendor
            if gpu.profile:
                out[p + sc.GPU_MIG_PROFILE] = gpu.profile
            out[p + sc.GPU_COMPUTE_RESOURCE_ID] = gpu.compute_resource_id
            out[p + sc.GPU_RUNTIME_CONTEXT] = str(context)
            out[p + sc.GPU_MEMORY_TOTAL_BYTES] = gpu.memory_total_bytes
            for key, value in self.runtime.items():
                out[p + key] = value
            seconds = duration_s * gpu.fraction
            gpu_seconds += seconds
            prices = self.prices
            if prices is not None:
                hourly = prices.gpu_hourly(gpu.name)
                if hourly is not None:
                    gpu_usd += seconds / 3600 * hourly
                    priced_gpu = True
            series = self.series.get(gpu.uuid)
            samples = series.window(start_ns, end_ns) if series is not None else []
            if gpu.uuid in self._failed or not samples:
                continue  # no readings: identity only, no made-up figures
            energy_j = _aggregate(samples, duration_s, p, out)
            if energy_j is not None and prices is not None:
                energy_usd += energy_j / 3.6e6 * prices.energy_usd_per_kwh
                priced_energy = True
        if count:
            out[sc.GPU_COUNT] = count
            out[sc.COST_GPU_SECONDS] = gpu_seconds
            if priced_gpu:
                out[sc.COST_GPU_USD] = gpu_usd
            if priced_energy:
                out[sc.COST_ENERGY_USD] = energy_usd

    def gauges(self) -> list[tuple[DiscoveredGPU, GpuSample]]:
        """The latest sample of every device (the GPU metrics)."""
        out = []
        for uuid, series in self.series.items():
            sample = series.latest()
            if sample is not None and uuid not in self._failed:
                out.append((series.gpu, sample))
        return out


def _aggregate(samples: list[GpuSample], duration_s: float, p: str,
               out: dict[str, Any]) -> float | None:
    """Window figures of one device into ``out``; returns the energy in joules, if known."""
    utils = [s.utilization_pct for s in samples if s.utilization_pct is not None]
    if utils:
        out[p + sc.GPU_UTILIZATION_AVG_PCT] = sum(utils) / len(utils)
        out[p + sc.GPU_UTILIZATION_MAX_PCT] = max(utils)
    clocks = [s.sm_clock_mhz for s in samples if s.sm_clock_mhz is not None]
    if clocks:
        out[p + sc.GPU_SM_CLOCK_MHZ] = sum(clocks) / len(clocks)
    last = samples[-1]
    if last.memory_used_bytes is not None:
        out[p + sc.GPU_MEMORY_USED_BYTES] = last.memory_used_bytes
    if last.temperature_c is not None:
        out[p + sc.GPU_TEMPERATURE_C] = last.temperature_c
    power: float | None = None
    # The energy counter over the window when two readings fall in it (it is read every few
    # seconds), else the mean of the power samples.
    counters = [(s.time_ns, s.energy_j) for s in samples if s.energy_j is not None]
    if len(counters) > 1:
        (t0, e0), (t1, e1) = counters[0], counters[-1]
        if t1 > t0 and e1 >= e0:
            power = (e1 - e0) / ((t1 - t0) / 1e9)
    if power is None:
        watts = [s.power_w for s in samples if s.power_w is not None]
        if watts:
            power = sum(watts) / len(watts)
    if power is None:
        return None
    out[p + sc.GPU_POWER_AVG_W] = power
    energy = power * duration_s
    out[p + sc.GPU_ENERGY_J] = energy
    return energy


def log_devices(profiler: GpuProfiler) -> None:
    logger.debug("axonize: GPU backend %s: %s", profiler.backend.name,
                 ", ".join(f"{d.name} {d.profile or ''} {d.uuid}".replace("  ", " ")
                           for d in profiler.devices) or "no devices")
