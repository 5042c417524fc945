"""The ingest log: acknowledged trace requests on disk until the span store has them.

A request is appended and fsynced (one fsync for all the requests appended meanwhile) and is
then acknowledged; a loader thread moves what has accumulated into the span store in one insert
per tenant and deletes it.  Every insert into ClickHouse costs tens of milliseconds of planning
however few its rows, so loading in bulk is what lets ingest keep up with many clients, and the
clients never wait for ClickHouse.

On disk, a folder of segments (``<time opened in ns>.log``), each a sequence of records
``<tenant length u32><body length u32>[<first day u32><last day u32>]<tenant><body>`` (the days
the request's spans start on are there when the tenant length has its top bit set); a segment is
deleted once loaded.  At start the loader first loads the segments a previous process left
(after a crash), and a load that is repeated (a crash between the insert and the delete) stores
nothing twice: each insert carries a deduplication token naming its segment and chunk.

A chunk holds one tenant's requests whose spans start within :data:`MAX_DAYS_PER_INSERT` days
(ClickHouse refuses an insert into more partitions than that).  A load that fails while the
store answers is the data's fault: the chunk is split in halves, recursively, until the
requests the store cannot load are alone; each of those is moved to ``quarantine/`` (beside the
segments) with its reason, counted (:attr:`IngestLog.quarantined`) and logged, and the rest is
loaded.  While the store does not answer, the loader waits for it (with backoff) and splits
nothing.

:meth:`IngestLog.wait_loaded` lets a reader see what was acknowledged before it asked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from io import BufferedWriter
from pathlib import Path

logger = logging.getLogger("axonize.server")

#: (tenant, request bodies, whether they may name GPUs, deduplication token) -> GPU rows found
Load = Callable[[str, list[bytes], bool, str], list[tuple[str, list[str]]]]
#: (tenant, one request body): raises with the reason if the store cannot decode the request
Check = Callable[[str, bytes], None]
_HEADER = struct.Struct("<II")
_DAYS = struct.Struct("<II")
_HAS_DAYS = 1 << 31
#: The most days (so partitions) the spans of one insert may start on: ClickHouse's default
#: ``max_partitions_per_insert_block``.
MAX_DAYS_PER_INSERT = 100
#: Loads of one request tried, while the store answers and decodes it, before it is quarantined
#: (with the backoff, about 40 s).
LEAF_ATTEMPTS = 10
QUARANTINE = "quarantine"


class LogFull(Exception):
    """More unloaded bytes than allowed: the client should retry later."""


class IngestLog:
    def __init__(
        self,
        folder: Path,
        load: Load,
        on_gpus: Callable[[str, list[tuple[str, list[str]]]], None],
        max_unloaded_bytes: int = 512 << 20,
        chunk_bytes: int = 32 << 20,
        start: bool = True,
        check: Check | None = None,
        healthy: Callable[[], bool] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder
        self._load = load
        self._on_gpus = on_gpus
        self._check = check
        self._healthy = healthy or (lambda: True)
        self._quarantine = folder / QUARANTINE
        self.quarantined = len(list(self._quarantine.glob("*.pb")))
        self._stopping = threading.Event()
        self._max_unloaded = max_unloaded_bytes
        self._chunk_bytes = chunk_bytes
        self._lock = threading.Lock()  # the current segment and the counters
        self._sync_lock = threading.Lock()  # one fsync at a time; taken before _lock
        self._cond = threading.Condition(threading.Lock())  # loader wake-ups, wait_loaded
        self._leftover = sorted(folder.glob("*.log"))
        self._last_name = int(self._leftover[-1].stem) if self._leftover else 0
        self._file = self._open_next()
        self._appended = 0  # records appended by this process
        self._synced = 0  # of which fsynced
        self._loaded = 0  # of which in the store
        self._leftover_pending = bool(self._leftover)  # a previous process's, not loaded yet
        self._in_segment = 0  # records in the current segment
        self._unloaded_bytes = sum(p.stat().st_size for p in self._leftover)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="axonize-loader", daemon=True)
        if start:
            self._thread.start()

    # ---------------------------------------------------------------- appending
    def append(self, tenant_id: str, body: bytes, days: tuple[int, int] | None = None) -> None:
        """Write one request and return once it is on disk (fsynced).  ``days``: the first and
        last day (since 1970) its spans start on, if known."""
        tenant = tenant_id.encode()
        if days is None:
            head = _HEADER.pack(len(tenant), len(body))
        else:
            head = _HEADER.pack(len(tenant) | _HAS_DAYS, len(body)) + _DAYS.pack(*days)
        record = head + tenant + body
        with self._lock:
            if self._closed:
                raise LogFull("the server is shutting down")
            if self._unloaded_bytes > self._max_unloaded:
                raise LogFull("the span store is behind; retry with backoff")
            self._file.write(record)
            self._appended += 1
            self._in_segment += 1
            self._unloaded_bytes += len(record)
            seq = self._appended
        self._sync(seq)
        with self._cond:
            self._cond.notify_all()

    def _sync(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return  # an fsync of someone else's covered it
            with self._lock:
                upto = self._appended
                self._file.flush()
            os.fsync(self._file.fileno())
            self._synced = upto

    def _open_next(self) -> BufferedWriter:
        # Named by the time it was opened: in order, and never the name of an earlier segment
        # (the name is the deduplication token of its loads).
        name = max(time.time_ns(), self._last_name + 1)
        self._last_name = name
        return open(self._folder / f"{name:020d}.log", "ab")

    def _rotate(self) -> tuple[Path, int]:
        """Close the current segment (everything in it fsynced) and start a new one."""
        with self._sync_lock, self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            path = Path(self._file.name)
            self._synced = upto = self._appended
            self._file = self._open_next()
            self._in_segment = 0
        return path, upto

    # ---------------------------------------------------------------- loading
    def _run(self) -> None:
        for path in self._leftover:  # what a previous process acknowledged but did not load
            self._load_segment(path)
        with self._cond:
            self._leftover_pending = False
            self._cond.notify_all()
        while True:
            with self._cond:
                while not self._closed and not self._in_segment:
                    self._cond.wait()
                if not self._in_segment:
                    return  # closed and nothing left
            path, upto = self._rotate()
            self._load_segment(path)
            with self._cond:
                self._loaded = upto
                self._cond.notify_all()

    def _load_segment(self, path: Path) -> None:
        """Load a segment and delete it.  A failure outside the loads themselves (the segment
        cannot be read) leaves it on disk for the next start, logged, and the loader goes on:
        readers must not wait on a thread that died."""
        try:
            size = path.stat().st_size
            for number, (tenant_id, bodies) in enumerate(self._chunks(path)):
                if not self._load_chunk(tenant_id, bodies, f"{path.name}:{number}"):
                    return  # closing: the segment stays on disk for the next start
        except Exception:
            logger.error("could not load %s; it stays on disk for the next start", path,
                         exc_info=True)
            return
        path.unlink(missing_ok=True)
        with self._lock:
            self._unloaded_bytes -= size

    def _load_chunk(self, tenant_id: str, bodies: list[bytes], token: str) -> bool:
        """Load a chunk, splitting it around requests the store refuses (quarantined); False
        if the log closed first.  The halves' tokens derive from the chunk's, so a load
        repeated after a crash splits the same way and stores nothing twice."""
        delay = 0.2
        attempts = 0
        while True:
            try:
                found = self._load(tenant_id, bodies, any(b"gpu." in b for b in bodies), token)
                break
            except Exception as exc:
                error = exc
            if not self._store_answers():
                logger.warning("the span store does not answer; loading %s waits", token)
                if self._stopping.wait(delay):
                    return False
                delay = min(delay * 2, 10.0)
                continue
            if len(bodies) > 1:  # the store answers: some request of the chunk is the cause
                logger.warning("loading %s failed (%s); splitting it", token, _first_line(error))
                mid = len(bodies) // 2
                return self._load_chunk(tenant_id, bodies[:mid], f"{token}/0") and (
                    self._load_chunk(tenant_id, bodies[mid:], f"{token}/1")
                )
            attempts += 1
            refused = self._refused(tenant_id, bodies[0])
            if refused is not None and not self._store_answers():
                refused = None  # the store went away meanwhile: not the data's fault
            # Quarantined: what the store refuses to decode at once; what it decodes but will
            # not insert, after LEAF_ATTEMPTS tries (a failure of the store's lasts longer
            # than that far less often than the data is at fault).  Without a check, never.
            given_up = self._check is not None and attempts >= LEAF_ATTEMPTS
            if refused is not None or given_up:
                return self._set_aside(tenant_id, bodies[0], token, refused or error)
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, 10.0)
        if found:
            try:
                self._on_gpus(tenant_id, found)
            except Exception:
                logger.warning("GPU registry update failed", exc_info=True)
        return True

    def _store_answers(self) -> bool:
        try:
            return self._healthy()
        except Exception:
            return False

    def _refused(self, tenant_id: str, body: bytes) -> Exception | None:
        """Why the store cannot decode the request (None if it can, or if it cannot tell)."""
        if self._check is None:
            return None
        try:
            self._check(tenant_id, body)
        except Exception as exc:
            return exc
        return None

    def _set_aside(self, tenant_id: str, body: bytes, token: str, error: Exception) -> bool:
        """Move one request the store refuses to ``quarantine/`` with its reason, fsynced."""
        name = re.sub(r"[^0-9A-Za-z_.-]", "_", token)
        reason = {
            "tenant_id": tenant_id,
            "token": token,
            "reason": _first_line(error),
            "time_unix_nano": time.time_ns(),
        }
        while True:
            try:
                self._quarantine.mkdir(exist_ok=True)
                for suffix, data in (
                    (".json", json.dumps(reason).encode()),
                    (".pb", body),  # last: a .pb file means a complete entry
                ):
                    with open(self._quarantine / (name + suffix), "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                break
            except OSError:
                logger.error("could not quarantine %s; it stays in the log", token, exc_info=True)
                if self._stopping.wait(1.0):
                    return False
        with self._lock:
            self.quarantined += 1
        logger.error(
            "request %s of tenant %s cannot be loaded (%s): moved to %s",
            token,
            tenant_id,
            reason["reason"],
            self._quarantine / (name + ".pb"),
        )
        return True

    def _chunks(self, path: Path) -> Iterator[tuple[str, list[bytes]]]:
        """The segment's requests, grouped by tenant, in chunks of about ``chunk_bytes`` whose
        spans start within :data:`MAX_DAYS_PER_INSERT` days."""
        groups: dict[str, _Group] = {}
        size = 0
        with open(path, "rb") as f:
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                n_tenant, n_body = _HEADER.unpack(header)
                days: tuple[int, int] | None = None
                if n_tenant & _HAS_DAYS:
                    n_tenant &= ~_HAS_DAYS
                    raw = f.read(_DAYS.size)
                    if len(raw) < _DAYS.size:
                        break
                    days = _DAYS.unpack(raw)
                tenant, body = f.read(n_tenant), f.read(n_body)
                if len(body) < n_body:
                    break  # torn by a crash before its fsync: never acknowledged
                name = tenant.decode()
                group = groups.get(name)
                if group is not None and not group.fits(days):
                    yield name, group.bodies  # its days would span too many partitions
                    group = None
                if group is None:
                    group = groups[name] = _Group()
                group.add(body, days)
                size += len(body)
                if size >= self._chunk_bytes:
                    yield from ((t, g.bodies) for t, g in groups.items())
                    groups, size = {}, 0
        yield from ((t, g.bodies) for t, g in groups.items())

    # ---------------------------------------------------------------- readers
    def wait_loaded(self, timeout: float = 10.0) -> bool:
        """Wait until everything acknowledged so far is in the store, what a previous process
        acknowledged and left in the log included (False on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._appended
            while (self._loaded < target or self._leftover_pending) and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def start(self) -> None:
        """Start the loader (if ``start=False`` was given)."""
        if not self._thread.is_alive():
            self._thread.start()

    @property
    def unloaded_bytes(self) -> int:
        return self._unloaded_bytes

    def close(self, timeout: float = 60.0) -> None:
        """Stop taking requests and load what is pending (what is not stays on disk)."""
        with self._lock:
            self._closed = True
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._sync_lock, self._lock:
            self._file.close()
            path = Path(self._file.name)
            if path.exists() and path.stat().st_size == 0:
                path.unlink()


class _Group:
    """One tenant's requests of a chunk and the days their spans start on."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.first, self.last = 1 << 62, -1

    def fits(self, days: tuple[int, int] | None) -> bool:
        if days is None or not self.bodies:
            return True
        first, last = min(self.first, days[0]), max(self.last, days[1])
        return last - first < MAX_DAYS_PER_INSERT

    def add(self, body: bytes, days: tuple[int, int] | None) -> None:
        self.bodies.append(body)
        if days is not None:
            self.first, self.last = min(self.first, days[0]), max(self.last, days[1])


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:500]
