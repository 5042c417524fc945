"""The ingest log: acknowledged trace requests on disk until the span store has them.

A request is appended and fsynced (one fsync for all the requests appended meanwhile) and is
then acknowledged; a loader thread moves what has accumulated into the span store in one insert
per tenant and deletes it.  Every insert into ClickHouse costs tens of milliseconds of planning
however few its rows, so loading in bulk is what lets ingest keep up with many clients, and the
clients never wait for ClickHouse.

On disk, a folder of segments (``<time opened in ns>.log``), each a sequence of records
``<tenant length u32><body length u32><tenant><body>``; a segment is deleted once loaded.  At
start the loader first loads the segments a previous process left (after a crash), and a load
that is repeated (a crash between the insert and the delete) stores nothing twice: each insert
carries a deduplication token naming its segment and chunk.

:meth:`IngestLog.wait_loaded` lets a reader see what was acknowledged before it asked.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from io import BufferedWriter
from pathlib import Path

logger = logging.getLogger("axonize.server")

#: (tenant, request bodies, whether they may name GPUs, deduplication token) -> GPU rows found
Load = Callable[[str, list[bytes], bool, str], list[tuple[str, list[str]]]]
_HEADER = struct.Struct("<II")


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
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder
        self._load = load
        self._on_gpus = on_gpus
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
        self._in_segment = 0  # records in the current segment
        self._unloaded_bytes = sum(p.stat().st_size for p in self._leftover)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="axonize-loader", daemon=True)
        if start:
            self._thread.start()

    # ---------------------------------------------------------------- appending
    def append(self, tenant_id: str, body: bytes) -> None:
        """Write one request and return once it is on disk (fsynced)."""
        tenant = tenant_id.encode()
        record = _HEADER.pack(len(tenant), len(body)) + tenant + body
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
        size = path.stat().st_size
        for number, (tenant_id, bodies) in enumerate(self._chunks(path)):
            token = f"{path.name}:{number}"
            gpus = any(b"gpu." in b for b in bodies)
            delay = 0.2
            while True:
                try:
                    found = self._load(tenant_id, bodies, gpus, token)
                    break
                except Exception:
                    if self._closed:
                        return  # stays on disk for the next start
                    logger.warning(
                        "loading %s into the span store failed; retrying", path.name, exc_info=True
                    )
                    time.sleep(delay)
                    delay = min(delay * 2, 10.0)
            if found:
                try:
                    self._on_gpus(tenant_id, found)
                except Exception:
                    logger.warning("GPU registry update failed", exc_info=True)
        path.unlink(missing_ok=True)
        with self._lock:
            self._unloaded_bytes -= size

    def _chunks(self, path: Path) -> Iterator[tuple[str, list[bytes]]]:
        """The segment's requests, grouped by tenant, in chunks of about ``chunk_bytes``."""
        groups: dict[str, list[bytes]] = {}
        size = 0
        with open(path, "rb") as f:
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                n_tenant, n_body = _HEADER.unpack(header)
                tenant, body = f.read(n_tenant), f.read(n_body)
                if len(body) < n_body:
                    break  # torn by a crash before its fsync: never acknowledged
                groups.setdefault(tenant.decode(), []).append(body)
                size += len(body)
                if size >= self._chunk_bytes:
                    yield from groups.items()
                    groups, size = {}, 0
        yield from groups.items()

    # ---------------------------------------------------------------- readers
    def wait_loaded(self, timeout: float = 10.0) -> bool:
        """Wait until everything acknowledged so far is in the store (False on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._appended
            while self._loaded < target and not self._closed:
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
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._sync_lock, self._lock:
            self._file.close()
            path = Path(self._file.name)
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
