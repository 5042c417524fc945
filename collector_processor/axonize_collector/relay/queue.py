"""A bounded on-disk queue of encoded trace requests, one file per request.

A request is acknowledged to its sender only once it is in a file (written under a temporary
name, then renamed, so a file is whole or absent), and its file is deleted only once the
destination has acknowledged it: what was accepted while the destination was down survives a
restart of the relay and is sent, once, when the destination is back.  The total size is bounded
(:attr:`DiskQueue.max_bytes`); a request that does not fit is refused, so that the sender keeps it
and retries.  Files are named ``<sequence>-<spans>.otlp``: in order, with their span count.
"""

from __future__ import annotations

import os
import threading
from bisect import insort
from pathlib import Path

SUFFIX = ".otlp"


class DiskQueue:
    def __init__(self, directory: str | Path, max_bytes: int, fsync: bool = False) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._cond = threading.Condition()
        self._items: list[tuple[str, int, int]] = []  # name, bytes, spans; oldest first
        self.bytes = 0
        self.spans = 0
        #: The size of the last request refused for want of room (0: none yet).
        self.refused_bytes = 0
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)  # a write the relay did not finish (never acknowledged)
        found: list[tuple[int, str, int, int]] = []
        for f in self.dir.glob("*" + SUFFIX):
            seq, _, count = f.stem.partition("-")
            if seq.isdigit() and count.isdigit():
                found.append((int(seq), f.name, f.stat().st_size, int(count)))
        found.sort()
        for _, name, size, n in found:
            self._items.append((name, size, n))
            self.bytes += size
            self.spans += n
        self._seq = found[-1][0] + 1 if found else 0

    def __len__(self) -> int:
        return len(self._items)

    def fits(self, size: int) -> bool:
        if self.bytes + size <= self.max_bytes:
            return True
        self.refused_bytes = size
        return False

    def full(self) -> bool:
        """Whether the queue would still refuse the last request it refused (it is ready
        again once it has drained enough for that one)."""
        return self.refused_bytes > 0 and self.bytes + self.refused_bytes > self.max_bytes

    def put(self, data: bytes, spans: int) -> bool:
        """Store one request; False (nothing stored) when it would exceed the bound."""
        with self._cond:
            if not self.fits(len(data)):
                return False
            seq = self._seq
            self._seq += 1
            self.bytes += len(data)  # reserved before the write, released if it fails
        name = f"{seq:020d}-{spans}{SUFFIX}"
        tmp = self.dir / (name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, self.dir / name)
        except OSError:
            with self._cond:
                self.bytes -= len(data)
            tmp.unlink(missing_ok=True)
            raise
        with self._cond:
            insort(self._items, (name, len(data), spans))  # a slower writer may finish later
            self.spans += spans
            self._cond.notify_all()
        return True

    def peek(self, max_bytes: int, timeout: float) -> list[tuple[str, int, int]]:
        """The oldest entries (at least one, together at most ``max_bytes`` beyond the first),
        waiting up to ``timeout`` s for one; [] if none came."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            out: list[tuple[str, int, int]] = []
            total = 0
            for item in self._items:
                if out and total + item[1] > max_bytes:
                    break
                out.append(item)
                total += item[1]
            return out

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()

    def done(self, entries: list[tuple[str, int, int]]) -> None:
        """The destination has these entries: delete them."""
        for name, _, _ in entries:
            (self.dir / name).unlink(missing_ok=True)
        gone = {e[0] for e in entries}
        with self._cond:
            self._items = [i for i in self._items if i[0] not in gone]
            self.bytes -= sum(e[1] for e in entries)
            self.spans -= sum(e[2] for e in entries)
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
