"""Processing in worker processes: the relay's processors on more than one core.

The processors run in Python, one request at a time per process (the GIL), and they cost more
per span than receiving, queueing and forwarding together, so one process keeps one core busy
and leaves the others idle.  When no processor keeps state across requests (no ``budget``, no
``sample``), the relay hands each request's body to a pool of worker processes, each with the
same processors built from the same configuration; the relay's own process receives, queues and
forwards.  A processor that keeps state (:attr:`~axonize_collector.pipeline.Processor.stateful`)
runs in the relay's process, as everything does with ``workers: 0``.

A worker decodes and checks the request itself: a request that cannot be read comes back as
:class:`~axonize_core.otlp_wire.MalformedOtlp`, spans with bad ids are refused with the reason
while the others pass, exactly as in process (:func:`process`).  Should a worker die, the pool
is given up and the relay processes in its own process from then on (logged once); no request
is lost, since the sender is answered only once its spans are queued.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from axonize_collector.pipeline import Counts, Pipeline
from axonize_core.otlp_wire import (
    PROTOBUF,
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    MalformedOtlp,
    check_span_ids,
    parse_traces,
)

log = logging.getLogger("axonize.collector")

#: The counters a request's processing changes (``Counts`` fields).
COUNTED = ("spans_in", "spans_out", "masked", "dropped", "routed", "failed")


@dataclass
class Processed:
    """One request, processed: what to queue by route (bytes, spans), and what it counted."""

    encoded: dict[str, tuple[bytes, int]]
    rejected: int = 0
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    failed_by: dict[str, int] = field(default_factory=dict)

    @property
    def received(self) -> int:
        return self.counts.get("spans_in", 0)


def process(pipeline: Pipeline, body: bytes, content_type: str) -> Processed:
    """Decode, check and process one request (what the relay does with it before queueing).
    :class:`MalformedOtlp` if it cannot be read at all."""
    req = parse_traces(body, content_type)
    rejected, reason = drop_bad_spans(req)
    before = pipeline.counts.snapshot()
    # The body lets processors take fast paths where it still matches the request span for
    # span (not once bad spans are out); OTLP/JSON could hide text behind escapes.
    whole = content_type.startswith(PROTOBUF) and not rejected
    encoded = pipeline.run_encoded(req, body if whole else None)
    after = pipeline.counts.snapshot()
    failed_by = {k: v - before["failed_by"].get(k, 0) for k, v in after["failed_by"].items()
                 if v != before["failed_by"].get(k, 0)}
    return Processed(encoded, rejected, reason, {k: after[k] - before[k] for k in COUNTED},
                     failed_by)


def drop_bad_spans(req: Any) -> tuple[int, str]:
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


def stateless(pipeline: Pipeline) -> bool:
    """Whether every processor can run in any process, request by request."""
    return not any(getattr(p, "stateful", False) for p in pipeline.processors)


def default_workers() -> int:
    """Workers when the configuration names none: one per core, at most four.  The relay's own
    process mostly waits (gRPC and the disk work outside the GIL): on 2 cores, two workers
    carried 61k-78k spans/s through the default processors, one 49k-57k, three 64k."""
    return max(1, min(4, os.cpu_count() or 1))


# -- in the worker process -----------------------------------------------------------------

_PIPELINE: Pipeline | None = None


def _start_worker(processors: dict[str, Any], env: dict[str, str], relay_pid: int) -> None:
    global _PIPELINE
    from axonize_collector.config import build_pipeline

    # A relay killed outright (kill -9, the OOM killer) cannot stop its workers: they stop
    # themselves once it is gone.
    threading.Thread(target=_exit_with, args=(relay_pid,), name="relay-watch",
                     daemon=True).start()
    _PIPELINE = build_pipeline(processors, env)


def _exit_with(relay_pid: int) -> None:
    while os.getppid() == relay_pid:
        time.sleep(0.5)
    os._exit(0)


def _process_in_worker(body: bytes, content_type: str) -> Processed | MalformedOtlp:
    assert _PIPELINE is not None
    try:
        return process(_PIPELINE, body, content_type)
    except MalformedOtlp as exc:
        return exc


# -- in the relay's process ----------------------------------------------------------------

class WorkerPool:
    """``workers`` processes that run the processors built from ``processors``."""

    def __init__(self, processors: dict[str, Any], workers: int,
                 env: dict[str, str] | None = None) -> None:
        self.workers = workers
        # Spawned, not forked: the relay's process runs gRPC's threads, which fork does not
        # carry safely.
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(processors, dict(os.environ if env is None else env), os.getpid()))
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._pool is not None

    def warm_up(self) -> None:
        """Start every worker now (each builds its processors), not on the first requests."""
        pool = self._pool
        if pool is not None:
            for f in [pool.submit(os.getpid) for _ in range(self.workers * 2)]:
                f.result()

    def run(self, body: bytes, content_type: str) -> Processed | None:
        """The request processed by a worker; None when the pool is gone (process it here).
        :class:`MalformedOtlp` if it cannot be read."""
        pool = self._pool
        if pool is None:
            return None
        try:
            out = pool.submit(_process_in_worker, body, content_type).result()
        except (BrokenProcessPool, RuntimeError) as exc:  # a worker died, or shut down
            self._give_up(exc)
            return None
        if isinstance(out, MalformedOtlp):
            raise out
        return out

    def _give_up(self, exc: BaseException) -> None:
        with self._lock:
            if self._pool is None:
                return
            pool, self._pool = self._pool, None
        log.error("processing workers stopped (%s): processing in the relay's process from "
                  "now on", exc)
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def add_counts(counts: Counts, done: Processed) -> None:
    """Add a request's counts (processed in a worker) to the relay's."""
    n = done.counts
    counts.add(Counts(spans_in=n["spans_in"], spans_out=n["spans_out"], masked=n["masked"],
                      dropped=n["dropped"], routed=n["routed"], failed=n["failed"],
                      failed_by=dict(done.failed_by)))
