"""The exporter thread: drains the ring buffer, then derives, encodes and exports spans.

A daemon thread wakes every ``flush_interval_ms``, or as soon as ``batch_size`` spans wait, and
exports everything waiting in batches.  Export hooks (GPU attribution, cost) and metric
aggregation run here too.  ``flush`` and ``shutdown`` take deadlines and always return in time;
after ``fork`` the child gets an empty buffer, a new thread and a new connection.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from axonize_core._config import Config
from axonize_core._log import debug_once, logger
from axonize_core._metrics import GenAiMetrics
from axonize_core._otlp.exporters import Exporter, make_exporter
from axonize_core._ring import RingBuffer
from axonize_core._sizing import BufferSizer
from axonize_core._state import FORK_CALLBACKS

ExportHook = Callable[[Sequence[Any]], None]

_PROCESSORS: weakref.WeakSet[BatchProcessor] = weakref.WeakSet()


class BatchProcessor:
    """Buffered, batching export of finished spans on one daemon thread."""

    def __init__(
        self,
        cfg: Config,
        encode: Callable[[Sequence[Any]], bytes],
        resource: Mapping[str, Any],
        *,
        exporter: Exporter | None = None,
        metrics: GenAiMetrics | None = None,
        is_llm: Callable[[Any], bool] | None = None,
        name: str = "axonize-exporter",
    ) -> None:
        self._cfg = cfg
        self._encode = encode
        self._resource = dict(resource)
        self._stop = threading.Event()
        self._exporter_given = exporter is not None
        self.exporter: Exporter = exporter if exporter is not None else make_exporter(
            cfg, self._stop)
        self.metrics = metrics
        self._is_llm = is_llm
        self.hooks: list[ExportHook] = []
        self._name = name
        self.exported_spans = 0
        self.failed_spans = 0
        self._setup()
        _PROCESSORS.add(self)

    def _setup(self) -> None:
        self._wake = threading.Event()
        self.buffer = RingBuffer(self._cfg.max_queue_size, self._cfg.batch_size, self._wake.set)
        self._sizer = BufferSizer(self._cfg.max_queue_bytes)
        self._flushes: deque[tuple[threading.Event, float]] = deque()
        # Which flush answers for a lost batch: batches are numbered as they are drained; a
        # flush that times out answers for every batch drained by then (claimed), so their
        # loss, counted later, is not charged again to the next flush.
        self._claims = threading.Lock()
        self._drained_batches = 0
        self._claimed_batches = 0
        self._unclaimed_failed = 0
        self._stopping = False
        self._stopped = False
        self._next_metrics = time.monotonic() + self._cfg.metrics_interval_ms / 1000
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ figures
    @property
    def dropped_spans(self) -> int:
        """Spans lost: dropped from the full buffer plus batches the endpoint never took."""
        return self.buffer.dropped + self.failed_spans

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float = 5.0) -> bool:
        """Export everything finished so far; True if it all went out before ``timeout``.

        A flush that times out answers False for every batch already on its way; if one of
        them is lost after it returned, the next flush does not answer for it again."""
        if self._stopped or not self._thread.is_alive():
            return False
        if threading.current_thread() is self._thread:
            return False
        done = threading.Event()
        with self._claims:
            failed_before = self._unclaimed_failed
        self._flushes.append((done, time.monotonic() + timeout))
        self._wake.set()
        finished = done.wait(timeout)
        with self._claims:
            if not finished:
                self._claimed_batches = self._drained_batches
                return False
            return self._unclaimed_failed == failed_before

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush within ``timeout``, stop the thread and close the exporter."""
        if self._stopped:
            return True
        deadline = time.monotonic() + timeout
        ok = False
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            done = threading.Event()
            self._flushes.append((done, deadline))
            self._stopping = True
            self._wake.set()
            ok = done.wait(max(0.0, deadline - time.monotonic()))
            self._stop.set()  # abort a backoff still waiting
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.05)
        self._stopped = True
        self._stop.set()
        try:
            self.exporter.shutdown()
        except Exception:
            debug_once("exporter-shutdown", "axonize: exporter shutdown failed", exc_info=True)
        return ok

    def after_fork_in_child(self) -> None:
        """The parent's buffer, thread and connection are not ours: start afresh."""
        if self._stopped:
            return
        self._stop = threading.Event()
        if not self._exporter_given:
            self.exporter = make_exporter(self._cfg, self._stop)
        if self.metrics is not None:
            self.metrics = GenAiMetrics(self.metrics._scope_version)
        self.exported_spans = self.failed_spans = 0
        self._setup()

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        interval = self._cfg.flush_interval_ms / 1000
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            self.buffer.wake_pending = False
            try:
                self._cycle()
            except Exception:  # never let the thread die
                debug_once("cycle", "axonize: exporter cycle failed", exc_info=True)
            if self._stopping:
                while self._flushes:  # release anyone still waiting
                    self._flushes.popleft()[0].set()
                return

    def _cycle(self) -> None:
        flushes = []
        while self._flushes:
            flushes.append(self._flushes.popleft())
        now = time.monotonic()
        retry_s = self._cfg.max_retry_ms / 1000
        # A flush that timed out no longer waits: its deadline must not cut short the others'.
        waiting = [d for _, d in flushes if d > now]
        deadline = min(waiting) if waiting else now + retry_s
        self._export_waiting(deadline, drain_all=bool(flushes) or self._stopping)
        if self.metrics is not None and (flushes or self._stopping or now >= self._next_metrics):
            self._export_metrics(deadline)
            self._next_metrics = time.monotonic() + self._cfg.metrics_interval_ms / 1000
        for done, _ in flushes:
            done.set()

    def _export_waiting(self, deadline: float, drain_all: bool) -> None:
        """Export what waits; without a flush only what is here now, so a cycle always ends."""
        buf = self.buffer
        batch_size = self._cfg.batch_size
        budget = None if drain_all else len(buf)
        while budget is None or budget > 0:
            batch = buf.drain(batch_size if budget is None else min(batch_size, budget))
            if not batch:
                break
            if budget is not None:
                budget -= len(batch)
            self._drained_batches += 1
            self._bound_bytes(batch)
            batch_deadline = (deadline if drain_all
                              else time.monotonic() + self._cfg.max_retry_ms / 1000)
            self._export_batch(batch, batch_deadline, self._drained_batches)
            if drain_all and time.monotonic() >= deadline:
                break

    def _bound_bytes(self, batch: list[Any]) -> None:
        """Keep the buffer within ``max_queue_bytes`` for spans like these (never raises)."""
        try:
            self._sizer.observe(batch)
            limit = self._sizer.span_limit()
            if limit is not None:
                self.buffer.set_limit(limit)
        except Exception:
            debug_once("sizing", "axonize: could not size buffered spans", exc_info=True)

    def _export_batch(self, batch: list[Any], deadline: float, number: int) -> None:
        for hook in self.hooks:
            try:
                hook(batch)
            except Exception:
                debug_once(f"hook-{id(hook)}", "axonize: export hook %r failed", hook,
                           exc_info=True)
        metrics, is_llm = self.metrics, self._is_llm
        if metrics is not None and is_llm is not None:
            for sp in batch:
                if is_llm(sp):
                    try:
                        metrics.record_span(sp)
                    except Exception:
                        debug_once("metrics-record", "axonize: metric aggregation failed",
                                   exc_info=True)
        payload = self._encode(batch)
        ok = False
        try:
            ok = self.exporter.export_traces(payload, len(batch), deadline)
        except Exception:
            debug_once("export-traces", "axonize: trace export raised", exc_info=True)
        if ok:
            self.exported_spans += len(batch)
        else:
            self.failed_spans += len(batch)
            with self._claims:
                if number > self._claimed_batches:
                    self._unclaimed_failed += len(batch)
            logger.debug("axonize: dropped a batch of %d spans", len(batch))

    def _export_metrics(self, deadline: float) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        metrics.set_dropped(self.dropped_spans)
        if not metrics.has_data:
            return
        try:
            payload = metrics.encode(self._resource)
            self.exporter.export_metrics(payload, max(deadline, time.monotonic() + 0.5))
        except Exception:
            debug_once("export-metrics", "axonize: metrics export failed", exc_info=True)


def _after_fork_in_child() -> None:
    for proc in list(_PROCESSORS):
        try:
            proc.after_fork_in_child()
        except Exception:
            pass
    for callback in list(FORK_CALLBACKS):
        try:
            callback()
        except Exception:
            pass

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
