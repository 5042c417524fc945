"""The GPU profiler on simulated NVML topologies: discovery, CUDA_VISIBLE_DEVICES, attribution
to spans, NVML failures, costs and GPU metrics, asserted on spans decoded from OTLP.

Only the NVML hardware calls are simulated (axonize_core.gpu._simulated); the NVML backend, the
profiler and the attribution are the code that runs on a real GPU.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, any_value, attrs

import axonize
from axonize_core._runtime import gpu_profiler
from axonize_core.cost import GPU_HOURLY_USD, PriceTable
from axonize_core.gpu import (
    DiscoveredGPU,
    GpuProfiler,
    NvmlBackend,
    SimulatedNvml,
    create_backend,
    visible_devices,
)

MIXED = "h100,a100:mig=1g.10gb+2g.20gb+3g.40gb,l4"
H100, A100, L4 = "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA L4"


def backend(topology: str = MIXED) -> NvmlBackend:
    lib = SimulatedNvml(topology)
    lib.nvmlInit()
    return NvmlBackend(lib)


def start(sink: GrpcSink, monkeypatch: pytest.MonkeyPatch, topology: str = MIXED,
          cuda_visible: str | None = None, **kw: Any) -> GpuProfiler:
    for var in ("K8S_POD_NAME", "POD_NAME", "K8S_NAMESPACE_NAME", "K8S_NAMESPACE",
                "POD_NAMESPACE", "K8S_CONTAINER_NAME", "CONTAINER_NAME", "K8S_NODE_NAME",
                "NODE_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("K8S_POD_NAME", "llm-7f9c")  # the downward API, as a pod would have it
    monkeypatch.setenv("POD_NAMESPACE", "serving")
    monkeypatch.setenv("CONTAINER_NAME", "vllm")
    if cuda_visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", cuda_visible)
    else:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, gpu_backend="simulated",
                 gpu_simulate=topology, gpu_sample_interval_ms=10, **kw)
    profiler = gpu_profiler()
    assert profiler is not None
    return profiler


def one_span(sink: GrpcSink) -> tuple[Any, dict[str, Any]]:
    axonize.flush(10)
    (span,) = sink.wait_for_spans(1)
    return span, attrs(span.attributes)


def gpu_attrs(a: dict[str, Any], i: int = 0) -> dict[str, Any]:
    p = f"gpu.{i}."
    return {k[len(p):]: v for k, v in a.items() if k.startswith(p)}


def test_discovery_of_a_mixed_topology() -> None:
    devices = backend().discover()
    assert [(d.index, d.name, d.profile, d.fraction) for d in devices] == [
        (0, H100, "", 1.0), (1, A100, "", 1.0), (1, A100, "1g.10gb", 1 / 7),
        (1, A100, "2g.20gb", 2 / 7), (1, A100, "3g.40gb", 3 / 7), (2, L4, "", 1.0)]
    mig = devices[4]
    assert mig.uuid.startswith("MIG-") and mig.parent_uuid == devices[1].uuid
    assert mig.compute_resource_id == f"{devices[1].uuid}/3/0"
    assert mig.memory_total_bytes == 40 << 30


def test_cuda_numbering_without_and_with_cuda_visible_devices() -> None:
    devices = backend().discover()
    gpu0, a100, mig1, mig2, mig3, l4 = devices
    # No CUDA_VISIBLE_DEVICES: a MIG-enabled GPU shows up as its instances.
    assert visible_devices(devices, None) == [gpu0, mig1, mig2, mig3, l4]
    assert visible_devices(devices, "2,0") == [l4, gpu0]
    assert visible_devices(devices, f"{l4.uuid},{mig2.uuid}") == [l4, mig2]
    assert visible_devices(devices, l4.uuid[:12]) == [l4]  # a unique UUID prefix
    assert visible_devices(devices, f"MIG-{a100.uuid}/3/0") == [mig3]  # the older MIG form
    # CUDA stops at the first entry that names nothing.
    assert visible_devices(devices, "0,7,2") == [gpu0]
    assert visible_devices(devices, "") == []


def test_a_span_gets_its_gpu_window_and_costs(sink: GrpcSink,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    profiler = start(sink, monkeypatch, cuda_visible="0")
    profiler.backend.lib.set_utilization(0, 75)  # type: ignore[attr-defined]
    profiler.backend.energy_every_ns = 0  # type: ignore[attr-defined]  # counter every sample
    time.sleep(0.05)
    with axonize.span("forward") as span:
        span.set_gpus("cuda:0")
        time.sleep(0.3)
    s, a = one_span(sink)
    duration_s = (s.end_time_unix_nano - s.start_time_unix_nano) / 1e9
    g = gpu_attrs(a)
    power, energy = g.pop("power.avg_w"), g.pop("energy_j")
    used = g.pop("memory.used_bytes")
    assert g == {
        "uuid": profiler.devices[0].uuid, "name": H100, "vendor": "nvidia",
        "compute_resource.id": profiler.devices[0].uuid, "runtime.context": "cuda:0",
        "memory.total_bytes": 80 << 30, "utilization.avg_pct": 75.0,
        "utilization.max_pct": 75.0, "temperature_c": 69.0, "clock.sm_mhz": 1760.0,
        "node": socket.gethostname(),
        "k8s.pod": "llm-7f9c", "k8s.namespace": "serving", "k8s.container": "vllm",
    }
    assert power == pytest.approx(70 + 630 * 0.75, rel=0.02)  # from the energy counter
    assert energy == pytest.approx(power * duration_s, rel=1e-6)
    assert 0 < used < 80 << 30
    assert a["gpu.devices"] == ["cuda:0"] and a["gpu.count"] == 1
    assert a["cost.gpu_seconds"] == pytest.approx(duration_s, rel=1e-6)
    assert a["cost.gpu_usd"] == pytest.approx(duration_s / 3600 * GPU_HOURLY_USD["H100"])
    assert a["cost.energy_usd"] == pytest.approx(energy / 3.6e6 * 0.15)
    assert a["cost.total_usd"] == pytest.approx(a["cost.gpu_usd"] + a["cost.energy_usd"])


def test_a_mig_instance_by_uuid(sink: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> None:
    devices = backend().discover()  # same topology, same UUIDs
    mig = devices[3]  # 2g.20gb
    start(sink, monkeypatch, cuda_visible=mig.uuid)
    time.sleep(0.05)
    with axonize.llm_span(model="llama") as span:
        span.set_gpus(["cuda:0"])
        time.sleep(0.1)
    s, a = one_span(sink)
    g = gpu_attrs(a)
    assert (g["uuid"], g["mig.profile"], g["compute_resource.id"], g["memory.total_bytes"]) == (
        mig.uuid, "2g.20gb", f"{devices[1].uuid}/2/0", 20 << 30)
    # NVML cannot report utilization on a MIG instance: absent, not zero.
    assert "utilization.avg_pct" not in g and "utilization.max_pct" not in g
    duration_s = (s.end_time_unix_nano - s.start_time_unix_nano) / 1e9
    assert a["cost.gpu_seconds"] == pytest.approx(duration_s * 2 / 7, rel=1e-6)
    assert a["cost.gpu_usd"] == pytest.approx(duration_s * 2 / 7 / 3600 * GPU_HOURLY_USD["A100"])


def test_several_gpus_and_an_unknown_device(sink: GrpcSink,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    start(sink, monkeypatch, cuda_visible="2,0")
    time.sleep(0.05)
    with axonize.span("tensor parallel") as span:
        span.set_gpus(["cuda:0", "cuda:1", "cuda:5"])
        time.sleep(0.05)
    _, a = one_span(sink)
    assert (gpu_attrs(a, 0)["name"], gpu_attrs(a, 1)["name"]) == (L4, H100)
    assert gpu_attrs(a, 2) == {}  # cuda:5 does not exist: named in gpu.devices only
    assert a["gpu.devices"] == ["cuda:0", "cuda:1", "cuda:5"]
    assert a["gpu.count"] == 2


@pytest.mark.axonize_lenient  # breaks Axonize on purpose
@pytest.mark.parametrize("error", ["gpu_is_lost", "no_permission"])
def test_nvml_errors_mid_run_keep_spans_and_drop_figures(
        sink: GrpcSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        error: str) -> None:
    profiler = start(sink, monkeypatch, topology="2xh100", debug=True)
    lib = profiler.backend.lib  # type: ignore[attr-defined]
    time.sleep(0.05)
    with caplog.at_level(logging.DEBUG, logger="axonize"):
        lib.fail(0, error)
        time.sleep(0.1)
        with axonize.span("forward") as span:
            span.set_gpus(["cuda:0", "cuda:1"])
            time.sleep(0.1)
    s, a = one_span(sink)
    assert s.status.code == 0
    broken, healthy = gpu_attrs(a, 0), gpu_attrs(a, 1)
    assert broken["uuid"] == profiler.devices[0].uuid  # identity is still known
    assert not {"utilization.avg_pct", "power.avg_w", "energy_j", "memory.used_bytes"} & set(
        broken)
    assert {"utilization.avg_pct", "power.avg_w", "energy_j"} <= set(healthy)
    reason = {"gpu_is_lost": "GPU is lost", "no_permission": "permission denied"}[error]
    messages = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(messages) == 1 and reason in messages[0]


def test_no_gpu_backend_leaves_only_the_device_names(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, gpu_backend="none")
    assert gpu_profiler() is None
    with axonize.span("forward") as span:
        span.set_gpus("cuda:0")
    _, a = one_span(sink)
    assert a == {"gpu.devices": ["cuda:0"]}


@pytest.mark.axonize_lenient  # breaks Axonize on purpose
def test_auto_finds_no_gpu_here_and_apple_is_import_safe(
        caplog: pytest.LogCaptureFixture) -> None:
    from axonize_core.gpu import _apple
    from axonize_core.gpu._types import GpuError

    assert not _apple.available()  # Linux
    with pytest.raises(GpuError, match="macOS"):
        _apple.AppleBackend()
    with caplog.at_level(logging.WARNING, logger="axonize"):
        assert create_backend("apple") is None
    assert "Apple Silicon" in caplog.text
    try:
        import pynvml  # noqa: F401
    except ImportError:
        assert create_backend("auto") is None


def test_the_sampler_is_bounded_and_stops_on_shutdown(sink: GrpcSink,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    profiler = start(sink, monkeypatch, topology="h100")
    series = next(iter(profiler.series.values()))
    series.capacity = 5
    time.sleep(0.2)
    assert 0 < len(series.times) <= 10
    thread = profiler._thread
    assert thread is not None and thread.is_alive()
    axonize.shutdown(5)
    assert not thread.is_alive()
    assert gpu_profiler() is None
    assert all(t.name != "axonize-gpu" for t in threading.enumerate())


def test_gpu_gauges_are_exported_as_metrics(sink: GrpcSink,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    profiler = start(sink, monkeypatch, topology="h100,a100:mig=3g.40gb")
    time.sleep(0.1)
    axonize.flush(10)
    metrics = sink.metrics()
    util = metrics["gpu.utilization"]
    assert util.unit == "%"
    points = {attrs(dp.attributes)["gpu.uuid"]: dp for dp in util.gauge.data_points}
    mig = next(d for d in profiler.devices if d.is_mig)
    # The whole GPUs report utilization; the MIG instance does not (absent, not zero).
    assert set(points) == {d.uuid for d in profiler.devices if not d.is_mig}
    memory = {attrs(dp.attributes)["gpu.uuid"]: attrs(dp.attributes)
              for dp in metrics["gpu.memory.used"].gauge.data_points}
    assert memory[mig.uuid]["gpu.mig.profile"] == "3g.40gb"
    assert memory[mig.uuid]["gpu.compute_resource.id"] == mig.compute_resource_id
    totals = {attrs(dp.attributes)["gpu.uuid"]: dp.as_int
              for dp in metrics["gpu.memory.total"].gauge.data_points}
    assert totals[mig.uuid] == 40 << 30
    assert {"gpu.power", "gpu.temperature", "gpu.energy"} <= set(metrics)
    assert any_value  # (imported for symmetry with other tests)


def test_price_file_and_token_costs(sink: GrpcSink, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({
        "gpu_hourly_usd": {"H100": 3.6},
        "energy_usd_per_kwh": 0.2,
        "tokens_per_1k_usd": {"llama3.2": {"input": 0.5, "output": 1.5}},
    }))
    monkeypatch.setenv("AXONIZE_PRICE_FILE", str(prices))
    start(sink, monkeypatch, topology="h100")
    time.sleep(0.05)
    with axonize.llm_span(model="llama3.2:latest") as span:
        span.set_gpus("cuda:0")
        span.set_tokens_input(1000)
        span.set_tokens_output(2000)
        time.sleep(0.05)
    s, a = one_span(sink)
    duration_s = (s.end_time_unix_nano - s.start_time_unix_nano) / 1e9
    assert a["cost.tokens_usd"] == pytest.approx(0.5 + 3.0)
    assert a["cost.gpu_usd"] == pytest.approx(duration_s / 3600 * 3.6)
    assert a["cost.energy_usd"] == pytest.approx(a["gpu.0.energy_j"] / 3.6e6 * 0.2)
    assert a["cost.total_usd"] == pytest.approx(
        a["cost.tokens_usd"] + a["cost.gpu_usd"] + a["cost.energy_usd"])


def test_price_table_matching_and_bad_files(tmp_path: Path) -> None:
    table = PriceTable()
    assert table.gpu_hourly("NVIDIA A100-SXM4-40GB") == GPU_HOURLY_USD["A100-SXM4-40GB"]
    assert table.gpu_hourly("NVIDIA A100 80GB PCIe") == GPU_HOURLY_USD["A100"]
    assert table.gpu_hourly("NVIDIA L40S") == GPU_HOURLY_USD["L40S"]
    assert table.gpu_hourly("Mystery Accelerator") is None
    bad = tmp_path / "p.json"
    bad.write_text('{"gpu_prices": {}}')
    with pytest.raises(ValueError, match=r"unknown keys.*gpu_hourly_usd"):
        PriceTable.load(str(bad))


@pytest.mark.axonize_lenient  # breaks Axonize on purpose
def test_bad_simulated_topology_is_explained(monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="unknown simulated GPU model 'h1000'"):
        axonize.init(exporter="none", gpu_backend="simulated", gpu_simulate="h1000")
    with pytest.raises(ValueError, match="l4 has no MIG mode"):
        axonize.init(exporter="none", gpu_backend="simulated", gpu_simulate="l4:mig=1g.5gb")
    monkeypatch.setenv("AXONIZE_GPU_SIMULATE", "8xh100,a100:mig=4g.40gb+4g.40gb")
    with caplog.at_level(logging.WARNING, logger="axonize"):
        axonize.init(exporter="none", gpu_backend="simulated")
    assert "more than 7 slices" in caplog.text
    profiler = gpu_profiler()
    assert profiler is not None and len(profiler.devices) == 5  # the default topology


def test_discovered_gpu_is_a_plain_record() -> None:
    gpu = DiscoveredGPU(0, "GPU-1", "X", "nvidia", 1)
    assert not gpu.is_mig and gpu.compute_resource_id == "GPU-1" == gpu.physical_uuid


@pytest.mark.gpu
def test_real_nvml(sink: GrpcSink) -> None:
    """On a machine with an NVIDIA GPU: the NVML path end to end (skipped elsewhere)."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver or no device
        pytest.skip(f"NVML unavailable: {exc}")
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, gpu_backend="nvml")
    profiler = gpu_profiler()
    assert profiler is not None and profiler.devices
    for d in profiler.devices:
        print(f"{d.index} {d.name} {d.uuid} profile={d.profile or '-'} "
              f"memory={d.memory_total_bytes >> 20} MiB")
    time.sleep(0.3)
    with axonize.span("probe") as span:
        span.set_gpus("cuda:0")
        time.sleep(0.3)
    _, a = one_span(sink)
    g = gpu_attrs(a)
    print(json.dumps(g, indent=1))
    assert g["vendor"] == "nvidia" and g["uuid"].startswith(("GPU-", "MIG-"))
    assert g["memory.total_bytes"] > 0


@pytest.mark.gpu
def test_real_gpu_generate_is_attributed_with_no_code(sink: GrpcSink,
                                                      tmp_path: Path) -> None:
    """On a CUDA machine: the transformers plugin names the model's device and the NVML
    profiler fills in what that GPU did during generate (skipped elsewhere)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("pynvml")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from axonize_testsupport import tiny_models
    from axonize_transformers import TransformersInstrumentor

    model, tok = tiny_models.load(tiny_models.build_llama(tmp_path / "tiny-llama"))
    model.to("cuda")
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, gpu_backend="nvml",
                 gpu_sample_interval_ms=20)
    assert TransformersInstrumentor().instrument()
    try:
        enc = tok("hello world", return_tensors="pt").to("cuda")
        time.sleep(0.1)
        model.generate(**enc, max_new_tokens=64, min_new_tokens=64, do_sample=False)
    finally:
        TransformersInstrumentor().uninstrument()
    _, a = one_span(sink)
    g = gpu_attrs(a)
    print(json.dumps({k: v for k, v in a.items() if k.startswith(("gpu.", "cost.", "ai.llm"))},
                     indent=1))
    assert a["gpu.devices"] == ["cuda:0"]
    assert g["vendor"] == "nvidia" and g["runtime.context"] == "cuda:0"
    assert g["uuid"] == gpu_profiler().visible[0].uuid  # type: ignore[union-attr]
    assert g["memory.used_bytes"] > 0 and "power.avg_w" in g
    assert a["cost.gpu_seconds"] > 0
