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
from axonize_core.otlp_wire import (
    PROTOBUF,
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    MalformedOtlp,
    check_span_ids,
    parse_traces,
)

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
        for d in self.destinations():
            d.forwarder.start()

    def stop(self) -> None:
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
        req = parse_traces(body, content_type)
        rejected, reason = _drop_bad_spans(req)
        # Processing and queueing with no other request in between: when a queue refuses the
        # output, the processors undo what the sender's retry would count twice.
        with self.pipeline.exclusive():
            try:
                received, delta = self._process_and_queue(req, body, content_type, rejected)
            except QueueFull:
                self.pipeline.rollback()
                raise
        self.stats.add(received=received, rejected=rejected, **delta)
        return Accepted(received, rejected, reason)

    def _process_and_queue(self, req: Any, body: bytes, content_type: str,
                           rejected: int) -> tuple[int, dict[str, int]]:
        before = self.pipeline.counts.snapshot()
        # The body lets processors take fast paths where it still matches the request span for
        # span (not once bad spans are out); OTLP/JSON could hide text behind escapes.
        whole = content_type.startswith(PROTOBUF) and not rejected
        encoded = self.pipeline.run_encoded(req, body if whole else None)
        after = self.pipeline.counts.snapshot()
        received = after["spans_in"] - before["spans_in"]
        delta = {k: after[k] - before[k] for k in ("masked", "dropped", "failed", "routed")}
        with self._put_lock:  # all destinations take it, or none does (no duplicates on retry)
            for route, (data, _) in encoded.items():
                self._room_for(len(data), self.routes.get(route, ()))
            for route, (data, spans) in encoded.items():
                targets = self.routes.get(route)
                if not targets:
                    log.error("no destination for route %r: %d spans dropped", route, spans)
                    delta["dropped"] += spans
                    continue
                for d in targets:
                    try:
                        stored = d.queue.put(data, spans)
                    except OSError as exc:  # a full or failing disk: the sender retries
                        raise QueueFull(f"queue for {d.name} cannot be written: {exc}") from None
                    if not stored:
                        raise _full(d)
        return received, delta


def _full(d: Destination) -> QueueFull:
    return QueueFull(f"queue for {d.name} is full ({d.queue.bytes} of {d.queue.max_bytes} "
                     "bytes): retry later")


def _drop_bad_spans(req: Any) -> tuple[int, str]:
    """Remove the spans whose ids are malformed; returns how many and the first reason."""
    rejected, reason = 0, ""
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            spans = ss.spans
            # check_span_ids' test, without a call per span (it runs again on the bad ones).
            bad = [i for i, sp in enumerate(spans) if len(sp.trace_id) != TRACE_ID_BYTES
                   or len(sp.span_id) != SPAN_ID_BYTES
                   or len(sp.parent_span_id) not in (0, SPAN_ID_BYTES)]
            if bad and not reason:
                try:
                    check_span_ids(spans[bad[0]])
                except MalformedOtlp as exc:
                    reason = str(exc)
            for i in reversed(bad):
                del spans[i]
            rejected += len(bad)
    if rejected and not reason:
        reason = f"{rejected} spans refused"
    return rejected, reason


__all__ = ["Accepted", "MalformedOtlp", "QueueFull", "Relay", "Stats"]
