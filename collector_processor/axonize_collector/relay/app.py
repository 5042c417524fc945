"""The relay: accept a trace request, run the processors, queue it for every destination."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axonize_collector.config import Exporter, Settings, build_pipeline
from axonize_collector.pipeline import MAIN, Pipeline
from axonize_collector.relay.forward import Forwarder, sender
from axonize_collector.relay.queue import DiskQueue
from axonize_collector.relay.workers import (
    Processed,
    WorkerPool,
    add_counts,
    default_workers,
    process,
    stateless,
)
from axonize_core.otlp_wire import MalformedOtlp

log = logging.getLogger("axonize.collector")

COUNTERS = ("received", "forwarded", "masked", "dropped", "failed", "rejected", "refused",
            "routed", "retries")


class QueueFull(Exception):
    """No room in a destination's queue: the sender should retry later."""


@dataclass(frozen=True)
class Accepted:
    spans: int
    rejected: int = 0
    reason: str = ""


class Stats:
    """The relay's own counters (cumulative span counts, and ``retries``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = dict.fromkeys(COUNTERS, 0)

    def add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                self.values[k] += v

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


@dataclass
class Destination:
    name: str
    exporter: Exporter
    queue: DiskQueue
    forwarder: Forwarder


class Relay:
    def __init__(self, settings: Settings, pipeline: Pipeline | None = None) -> None:
        if not settings.exporters:
            raise ValueError("no destination: give --to URL, or exporters in the config file")
        self.settings = settings
        self.pipeline = pipeline if pipeline is not None else build_pipeline(settings.processors)
        self.stats = Stats()
        self.routes: dict[str, list[Destination]] = {MAIN: []}
        every = [(MAIN, e) for e in settings.exporters] + list(settings.routes.items())
        share = settings.queue_max_bytes // len(every)
        for route, exporter in every:
            self.routes.setdefault(route, []).append(self._destination(route, exporter, share))
        self._put_lock = threading.Lock()
        self._pool: WorkerPool | None = None
        #: Processes that run the processors (0: the relay's own; None: as many as
        #: :func:`default_workers` gives) when none of them keeps state across requests.
        # (A pipeline given here, not built from the settings, cannot be built in a worker.)
        workers = default_workers() if settings.workers is None else settings.workers
        self.workers = (workers if workers > 0 and pipeline is None
                        and stateless(self.pipeline) else 0)

    def _destination(self, route: str, exporter: Exporter, max_bytes: int) -> Destination:
        digest = hashlib.sha1(exporter.url.encode()).hexdigest()[:12]
        queue = DiskQueue(Path(self.settings.queue_dir) / f"{route or 'main'}-{digest}",
                          max_bytes, self.settings.fsync)
        if len(queue):
            log.warning("%s: %d requests (%d spans) queued before the restart will be sent",
                        exporter.url, len(queue), queue.spans)
        fwd = Forwarder(exporter.url, queue,
                        sender(exporter.url, exporter.headers, exporter.timeout_s), self.stats,
                        self.settings.retry_initial_s, self.settings.retry_max_s)
        return Destination(exporter.url, exporter, queue, fwd)

    def destinations(self) -> list[Destination]:
        return [d for ds in self.routes.values() for d in ds]

    def start(self) -> None:
        if self.workers:
            self._pool = WorkerPool(self.settings.processors, self.workers)
            self._pool.warm_up()
        for d in self.destinations():
            d.forwarder.start()

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.close()
        for d in self.destinations():
            d.forwarder.stop()
        self.pipeline.close()

    def queued_spans(self) -> int:
        return sum(d.queue.spans for d in self.destinations())

    def _room_for(self, size: int, targets: Any = None) -> None:
        for d in self.destinations() if targets is None else targets:
            if not d.queue.fits(size):
                raise _full(d)

    def accept(self, body: bytes, content_type: str) -> Accepted:
        """Decode, check, process and queue one request.  :class:`MalformedOtlp` if it cannot be
        read at all; spans with bad ids are refused with the reason while the rest pass;
        :class:`QueueFull` (nothing kept) when a destination's queue has no room."""
        self._room_for(len(body), self.routes[MAIN])  # refuse before the processors count
        pool = self._pool
        done = None if pool is None else pool.run(body, content_type)
        if done is not None:  # processed in a worker: no processor here keeps state
            add_counts(self.pipeline.counts, done)  # counted as processed, as in process
            self._queue(done)
        else:
            # Processing and queueing with no other request in between: when a queue refuses
            # the output, the processors undo what the sender's retry would count twice.
            with self.pipeline.exclusive():
                done = process(self.pipeline, body, content_type)
                try:
                    self._queue(done)
                except QueueFull:
                    self.pipeline.rollback()
                    raise
        self.stats.add(received=done.received, rejected=done.rejected,
                       **{k: done.counts[k] for k in ("masked", "dropped", "failed", "routed")})
        return Accepted(done.received, done.rejected, done.reason)

    def _queue(self, done: Processed) -> None:
        """Queue a processed request for every destination of each route, or for none."""
        with self._put_lock:  # all destinations take it, or none does (no duplicates on retry)
            for route, (data, _) in done.encoded.items():
                self._room_for(len(data), self.routes.get(route, ()))
            for route, (data, spans) in done.encoded.items():
                targets = self.routes.get(route)
                if not targets:
                    log.error("no destination for route %r: %d spans dropped", route, spans)
                    done.counts["dropped"] += spans
                    continue
                for d in targets:
                    try:
                        stored = d.queue.put(data, spans)
                    except OSError as exc:  # a full or failing disk: the sender retries
                        raise QueueFull(f"queue for {d.name} cannot be written: {exc}") from None
                    if not stored:
                        raise _full(d)


def _full(d: Destination) -> QueueFull:
    return QueueFull(f"queue for {d.name} is full ({d.queue.bytes} of {d.queue.max_bytes} "
                     "bytes): retry later")


__all__ = ["Accepted", "MalformedOtlp", "QueueFull", "Relay", "Stats"]
