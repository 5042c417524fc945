"""The ingest under faults, on ``axonize-server serve`` processes (``fuzz_5xx``,
``bomb_peak_rss_mb``, ``fault_acked_lost``).

- ``fuzz_5xx``: answers >= 500 over the seeded corpus of mutated OTLP requests
  (:mod:`axonize_testsupport.otlp_fuzz`, the one the test suite sends), over keep-alive HTTP.
- ``bomb_peak_rss_mb``: the server's resident memory peak above idle while it refuses a
  16 MiB gzip body that inflates to 16 GiB.
- ``fault_acked_lost``: acknowledged spans missing after rounds of ``kill -9`` under load and a
  restart (duplicates and the state of the embedded PostgreSQL after a final SIGTERM in the
  note).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.measure import Figure
from bench.sizes import Sizes


def gzip_bomb(compressed_bytes: int) -> bytes:
    """A gzip body of about ``compressed_bytes`` of zeros about a thousand times larger (blocks
    flushed in full repeat exactly, so it is made in no time)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    z.compress(zeros)
    z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * (compressed_bytes // len(block) - 1) + z.flush() + bytes(8)


def faults(sizes: Sizes) -> list[Figure]:
    from axonize_testsupport.backend_process import Load, ServeProcess, stored_trace_ids
    from axonize_testsupport.otlp_fuzz import PB, KeepAliveClient, corpus

    root = Path(tempfile.mkdtemp(prefix="axonize-bench-faults-"))
    root.chmod(0o711)  # the embedded PostgreSQL's user must reach its folder
    data = root / "data"
    server = ServeProcess(data)
    try:
        server.wait_ready()
        _, key = server.tenant("bench")
        client = KeepAliveClient("127.0.0.1", server.http_port)
        statuses: Counter[int] = Counter()
        for case in corpus(13, sizes.fuzz_cases):
            status, _ = client.post(case.path, case.body,
                                    {"x-api-key": key, "content-type": case.content_type})
            statuses[status] += 1
        fuzz_5xx = sum(n for s, n in statuses.items() if s >= 500)
        bomb = gzip_bomb(16 * 2**20 - 4096)
        answers: list[int] = []

        def post_bomb() -> None:
            answers.append(client.post("/v1/traces", bomb, {
                "x-api-key": key, "content-type": PB, "content-encoding": "gzip"})[0])

        idle, peak = _peak_rss_during(server.rss_bytes, post_bomb)
        client.close()
        acked: set[int] = set()
        for round_ in range(sizes.fault_kills):
            load = Load(server, key, threads=4, base=round_ * 10**12 + 10**11)
            time.sleep(sizes.fault_load_seconds)
            server.kill()
            load.stop()
            acked |= load.acked
            server = ServeProcess(data)
            server.wait_ready()
        stored = Counter(stored_trace_ids(server.url, key))
        loaded = {t for t in stored if 10**11 <= t < 10**13}  # the load's, not the corpus's
        lost = len(acked - loaded)
        duplicated = sum(1 for t in loaded if stored[t] > 1)
        exit_code = server.terminate()
        postgres_left = (data / "postgres" / "postmaster.pid").exists()
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)
    answered = ", ".join(f"{n:,} x {s}" for s, n in sorted(statuses.items()))
    return [
        Figure("fault_acked_lost", "spans", lost, float("nan"), "", float("nan"), "0",
               note=f"{sizes.fault_kills} x kill -9 under load (4 connections, "
                    f"{sizes.fault_load_seconds:.0f} s each) and a restart: {len(acked):,} "
                    f"acknowledged, {duplicated} stored twice; then SIGTERM exit {exit_code}, "
                    f"PostgreSQL {'left running' if postgres_left else 'stopped'}"),
        Figure("fuzz_5xx", "answers", fuzz_5xx, float("nan"), "", float("nan"), "0",
               note=f"{sizes.fuzz_cases:,} mutated OTLP requests (protobuf and JSON): "
                    f"{answered}"),
        Figure("bomb_peak_rss_mb", "MB", (peak - idle) / 2**20, float("nan"), "",
               float("nan"), "<= 100 MB above idle",
               note=f"a {len(bomb) / 2**20:.0f} MiB gzip body inflating to 16 GiB, answered "
                    f"{answers[0] if answers else '-'}; the server idles at "
                    f"{idle / 2**20:.0f} MB"),
    ]


def _peak_rss_during(rss: Callable[[], int], action: Callable[[], None]) -> tuple[int, int]:
    idle = peak = rss()
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        action()
    finally:
        done.set()
        watcher.join()
    return idle, peak
