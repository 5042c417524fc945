"""Things that push a server, shared by the tests and the bench: a gzip bomb, and a watcher of
a process's resident memory peak."""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable

_MIB = 1 << 20


def gzip_bomb(inflated_bytes: int) -> bytes:
    """A gzip body of zeros that inflates to about ``inflated_bytes`` (about a thousandth of
    that compressed).  One full-flushed deflate block of 1 MiB of zeros is repeated, so even a
    16 GiB bomb is made in no time; the trailer's checksum is not computed (a server must refuse
    the body long before it gets there)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(_MIB)
    z.compress(zeros)
    z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)  # once the window is full of zeros
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    opening = first.compress(zeros) + first.flush(zlib.Z_FULL_FLUSH)
    return header + opening + block * max(0, inflated_bytes // _MIB - 1) + z.flush() + bytes(8)


def rss_of(pid: int | None = None) -> int:
    """Resident set size in bytes of process ``pid`` (this one by default), from /proc."""
    with open(f"/proc/{pid or 'self'}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """``with PeakRss(rss) as m: ...``: the highest of ``rss()`` (default: this process's
    resident memory) sampled every millisecond or so while the block runs; ``m.start``,
    ``m.peak``, ``m.growth_mb``."""

    def __init__(self, rss: Callable[[], int] = rss_of) -> None:
        self._rss = rss
        self.peak = self.start = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20
