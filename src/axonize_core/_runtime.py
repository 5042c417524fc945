"""Process-wide state: ``init``, ``flush``, ``shutdown`` and the exit-time flush."""

from __future__ import annotations

import atexit
import sys
import threading
from collections.abc import Sequence
from typing import Any

from axonize_core import _signals, _threads
from axonize_core._config import Config, load_config
from axonize_core._log import debug_once, enable_debug, logger
from axonize_core._metrics import GenAiMetrics
from axonize_core._otlp.encode import TraceEncoder
from axonize_core._otlp.exporters import Exporter
from axonize_core._processor import BatchProcessor, ExportHook
from axonize_core._record import is_llm
from axonize_core._state import ENRICH, FORK_CALLBACKS, PIPELINE, RECORDING, RUNTIME, NullSink
from axonize_core._version import __version__

_lock = threading.RLock()


def init(*, exporter: Exporter | str | None = None, **settings: Any) -> Config:
    """Start tracing.  Every setting also comes from the environment (docs/configuration.md).

    ``exporter`` is a name (``"otlp"``, ``"console"``, ``"file"``, ``"none"``) or an object with
    ``export_traces``/``export_metrics``/``shutdown``.  Calling ``init`` again replaces the
    previous configuration (its spans are flushed first).  Returns the effective configuration.
    """
    if isinstance(exporter, str):
        settings["exporter"] = exporter
        exporter = None
    with _lock:
        cfg = load_config(**settings)
        if RUNTIME.processor is not None:
            _shutdown_locked(timeout=cfg.shutdown_timeout_ms / 1000)
        if cfg.debug:
            enable_debug()
        RUNTIME.config = cfg
        if cfg.disabled:
            _threads.uninstall()
            RECORDING.on = PIPELINE.fast = False
            PIPELINE.set_sink(NullSink())
            return cfg
        resource = cfg.resource()
        encoder = TraceEncoder(resource, "axonize", __version__, cfg.semconv)
        metrics = GenAiMetrics(__version__) if cfg.metrics else None
        try:
            proc = BatchProcessor(cfg, encoder.encode, resource, exporter=exporter,
                                  metrics=metrics, is_llm=is_llm)
        except Exception as exc:
            # An exporter that cannot even be built (e.g. a bad certificate path) disables
            # tracing instead of breaking the program.
            logger.warning("axonize: tracing disabled: %s", exc)
            _threads.uninstall()
            RECORDING.on = PIPELINE.fast = False
            PIPELINE.set_sink(NullSink())
            return cfg
        ENRICH.genai_latest = cfg.genai_conventions == "latest_experimental"
        proc.hooks.extend(RUNTIME.export_hooks)
        _start_gpu(cfg, metrics)
        RUNTIME.processor = proc
        if cfg.prometheus_port:  # the exporter's module is loaded only when asked for
            from axonize_core import _prom_exporter

            _prom_exporter.serve(cfg.prometheus_host, cfg.prometheus_port)
        PIPELINE.set_sink(proc.buffer)
        PIPELINE.sample_bound = int(cfg.sample_rate * (1 << 64))
        RECORDING.on = True
        PIPELINE.fast = cfg.sample_rate >= 1.0
        if not RUNTIME.atexit_registered:
            atexit.register(_at_exit)
            RUNTIME.atexit_registered = True
        if cfg.flush_on_sigterm:
            _signals.install(shutdown, cfg.shutdown_timeout_ms / 1000)
        else:
            _signals.uninstall()
        if cfg.thread_context:
            _threads.install()
        else:
            _threads.uninstall()
        for hook in list(RUNTIME.init_hooks):
            try:
                hook(cfg, proc)
            except Exception:
                debug_once(f"init-hook-{id(hook)}", "axonize: init hook failed", exc_info=True)
        return cfg


def flush(timeout: float = 5.0) -> bool:
    """Export every finished span now; True if all of it was accepted within ``timeout`` s."""
    proc = RUNTIME.processor
    if proc is None:
        return True
    try:
        return proc.flush(timeout)
    except Exception:
        debug_once("flush", "axonize: flush failed", exc_info=True)
        return False


def shutdown(timeout: float = 5.0) -> bool:
    """Flush within ``timeout`` s and stop tracing (spans become no-ops until ``init``)."""
    with _lock:
        _signals.uninstall()
        _threads.uninstall()
        return _shutdown_locked(timeout)


def _start_gpu(cfg: Config, metrics: GenAiMetrics | None) -> None:
    """Prices for the exporter thread, and the GPU profiler when a GPU backend can run."""
    from axonize_core.cost import PriceTable

    try:
        ENRICH.prices = PriceTable.load(cfg.price_file or None, cfg.energy_usd_per_kwh)
    except ValueError as exc:
        logger.warning("axonize: %s; using the default prices", exc)
        ENRICH.prices = PriceTable.load(None, cfg.energy_usd_per_kwh)
    if not cfg.gpu_profiling or cfg.gpu_backend == "none":
        return
    try:
        from axonize_core.gpu import GpuProfiler, create_backend

        backend = create_backend(cfg.gpu_backend, cfg.gpu_simulate)
        if backend is None:
            return
        profiler = GpuProfiler(backend, cfg.gpu_sample_interval_ms / 1000, prices=ENRICH.prices)
        if not profiler.devices:
            backend.close()
            return
        profiler.start()
    except Exception as exc:
        logger.warning("axonize: GPU profiling disabled: %s", exc)
        return
    ENRICH.gpu = profiler
    if metrics is not None:
        metrics.gpu = profiler


def _stop_gpu() -> None:
    profiler, ENRICH.gpu = ENRICH.gpu, None
    if profiler is not None:
        try:
            profiler.stop()
            profiler.backend.close()
        except Exception:
            debug_once("gpu-stop", "axonize: GPU profiler stop failed", exc_info=True)


def _gpu_after_fork() -> None:
    if ENRICH.gpu is not None:
        ENRICH.gpu.after_fork()


FORK_CALLBACKS.append(_gpu_after_fork)


def gpu_profiler() -> Any:
    """The running :class:`~axonize_core.gpu.GpuProfiler`, or None."""
    return ENRICH.gpu


def _shutdown_locked(timeout: float) -> bool:
    RECORDING.on = PIPELINE.fast = False
    proc, RUNTIME.processor = RUNTIME.processor, None
    if proc is None:
        _stop_gpu()
        return True
    try:
        return proc.shutdown(timeout)
    except Exception:
        debug_once("shutdown", "axonize: shutdown failed", exc_info=True)
        return False
    finally:
        _stop_gpu()
        _stop_prometheus()
        if PIPELINE.sink is proc.buffer:
            PIPELINE.set_sink(NullSink())


def _stop_prometheus() -> None:
    exporter = sys.modules.get("axonize_core._prom_exporter")
    if exporter is not None:
        exporter.stop()


def _at_exit() -> None:
    cfg = RUNTIME.config
    timeout = cfg.shutdown_timeout_ms / 1000 if cfg is not None else 5.0
    shutdown(timeout)


def add_export_hook(hook: ExportHook) -> None:
    """Run ``hook(batch)`` on the exporter thread before each batch is encoded (plugin API).

    Hooks stay registered across ``init`` calls until ``remove_export_hook``.
    """
    if hook not in RUNTIME.export_hooks:
        RUNTIME.export_hooks.append(hook)
    proc = RUNTIME.processor
    if proc is not None and hook not in proc.hooks:
        proc.hooks.append(hook)


def remove_export_hook(hook: ExportHook) -> None:
    if hook in RUNTIME.export_hooks:
        RUNTIME.export_hooks.remove(hook)
    proc = RUNTIME.processor
    if proc is not None and hook in proc.hooks:
        proc.hooks.remove(hook)


def stats() -> dict[str, int]:
    """Counters of the running pipeline: exported, dropped and buffered spans."""
    proc = RUNTIME.processor
    if proc is None:
        return {"exported_spans": 0, "dropped_spans": 0, "buffered_spans": 0}
    return {
        "exported_spans": proc.exported_spans,
        "dropped_spans": proc.dropped_spans,
        "buffered_spans": len(proc.buffer),
    }


def _refresh_sink_after_fork() -> None:
    proc = RUNTIME.processor
    if proc is not None:
        PIPELINE.set_sink(proc.buffer)


FORK_CALLBACKS.append(_refresh_sink_after_fork)


def configured() -> Config | None:
    return RUNTIME.config


__all__: Sequence[str] = (
    "add_export_hook", "configured", "flush", "init", "remove_export_hook", "shutdown", "stats",
)
