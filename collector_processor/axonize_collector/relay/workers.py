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
import signal
import threading
import time
from concurrent.futures import BrokenExecutor, CancelledError, ProcessPoolExecutor
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
    """Workers when the configuration names none: one per core this process may run on, at
    most four; none with a single core (another process would only take turns with the relay's
    own).  The relay's own process mostly waits (gRPC and the disk work outside the GIL): on 2
    cores, two workers carried 61k-78k spans/s through the default processors, one 49k-57k,
    three 64k."""
    try:
        cores = len(os.sched_getaffinity(0))  # a container's or taskset's limit
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(4, cores)


# -- in the worker process -----------------------------------------------------------------

_PIPELINE: Pipeline | None = None


def _start_worker(processors: dict[str, Any], relay_pid: int, log_level: int) -> None:
    global _PIPELINE
    from axonize_collector.config import build_pipeline

    # Ctrl-C in a terminal reaches the whole process group: the relay stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s %(name)s "
                        f"[worker {os.getpid()}]: %(message)s")
    # A relay killed outright (kill -9, the OOM killer) cannot stop its workers: they stop
    # themselves once it is gone.
    threading.Thread(target=_exit_with, args=(relay_pid,), name="relay-watch",
                     daemon=True).start()
    _PIPELINE = build_pipeline(processors)  # the environment switches: the relay's, inherited


def _exit_with(relay_pid: int) -> None:
    while os.getppid() == relay_pid:
        time.sleep(0.5)
    os._exit(0)


def _pid_after(wait_s: float) -> int:
    time.sleep(wait_s)  # long enough for the other workers to take the other tasks
    return os.getpid()


def _process_in_worker(body: bytes, content_type: str) -> Processed | MalformedOtlp:
    assert _PIPELINE is not None
    try:
        return process(_PIPELINE, body, content_type)
    except MalformedOtlp as exc:
        return exc


# -- in the relay's process ----------------------------------------------------------------

class _SigintIgnored:
    """SIGINT ignored inside the block (processes started there inherit that), if this is the
    main thread; as it was afterwards."""

    def __enter__(self) -> None:
        self.before: Any = None
        if threading.current_thread() is threading.main_thread():
            self.before = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            signal.signal(signal.SIGINT, self.before)


class WorkerPool:
    """``workers`` processes that run the processors built from ``processors``."""

    def __init__(self, processors: dict[str, Any], workers: int) -> None:
        self.workers = workers
        # Spawned, not forked: the relay's process runs gRPC's threads, which fork does not
        # carry safely.
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(processors, os.getpid(), logging.getLogger().getEffectiveLevel()))
        self._lock = threading.Lock()

    def warm_up(self, timeout_s: float = 60.0) -> None:
        """Start every worker now, each with its processors built, not on the first requests.
        They start with Ctrl-C ignored (a terminal sends it to the whole process group, and a
        worker still importing would die of it): the relay stops its workers itself."""
        pool = self._pool
        if pool is None:
            return
        with _SigintIgnored():
            seen: set[int] = set()
            deadline = time.monotonic() + timeout_s
            while len(seen) < self.workers and time.monotonic() < deadline:
                tasks = [pool.submit(_pid_after, 0.05) for _ in range(self.workers)]
                seen.update(f.result() for f in tasks)

    def run(self, body: bytes, content_type: str) -> Processed | None:
        """The request processed by a worker; None when the pool is gone (process it here).
        :class:`MalformedOtlp` if it cannot be read; what a processor raised outside its
        per-span guard, as in the relay's own process."""
        pool = self._pool
        if pool is None:
            return None
        try:
            future = pool.submit(_process_in_worker, body, content_type)
        except BrokenExecutor as exc:  # a worker died since the last request
            self._give_up(exc)
            return None
        except RuntimeError:  # shut down meanwhile: the relay is stopping
            return None
        try:
            out = future.result()
        except BrokenExecutor as exc:  # a worker died: this request, and the pool, are lost
            self._give_up(exc)
            return None
        except CancelledError:
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
        pool.shutdown(wait=False)

    def close(self, grace_s: float = 10.0) -> None:
        """Stop the workers: each finishes the request it has, within ``grace_s``; one that
        does not is terminated."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False)
        deadline = time.monotonic() + grace_s
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                log.warning("processing worker %s did not stop in %.0f s: terminated", p.pid,
                            grace_s)
                p.terminate()
                p.join(5)


def add_counts(counts: Counts, done: Processed) -> None:
    """Add a request's counts (processed in a worker) to the relay's."""
    n = done.counts
    counts.add(Counts(spans_in=n["spans_in"], spans_out=n["spans_out"], masked=n["masked"],
                      dropped=n["dropped"], routed=n["routed"], failed=n["failed"],
                      failed_by=dict(done.failed_by)))
