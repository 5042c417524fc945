"""The on-disk queue: bounded, in order, whole files only, and what it holds survives a
restart."""

from __future__ import annotations

from axonize_collector.relay.queue import DiskQueue


def test_bounded_ordered_and_kept_across_a_restart(tmp_path) -> None:
    q = DiskQueue(tmp_path, max_bytes=100)
    assert q.put(b"a" * 40, 1) and q.put(b"b" * 40, 2)
    assert not q.put(b"c" * 40, 3)  # over the bound: refused, nothing written
    assert (len(q), q.bytes, q.spans) == (2, 80, 3)
    (tmp_path / "00000000000000000009-5.otlp.tmp").write_bytes(b"half")  # an unfinished write

    again = DiskQueue(tmp_path, max_bytes=100)  # a restart
    assert not list(tmp_path.glob("*.tmp"))
    entries = again.peek(max_bytes=1000, timeout=0)
    assert [again.read(e[0]) for e in entries] == [b"a" * 40, b"b" * 40]
    assert again.peek(max_bytes=10, timeout=0) == entries[:1]  # at least one, then the bound
    again.done(entries[:1])
    assert (len(again), again.bytes, again.spans) == (1, 40, 2)
    assert again.put(b"d" * 60, 4)  # room again; it goes after what was there
    assert [again.read(e[0]) for e in again.peek(1000, 0)] == [b"b" * 40, b"d" * 60]
    assert again.peek(1000, 0) != [] and DiskQueue(tmp_path, 100).spans == 6
