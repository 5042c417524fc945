"""The ingest under faults, on ``axonize-server serve`` processes (``fuzz_5xx``,
``bomb_peak_rss_mb``, ``fault_acked_lost``).

- ``fuzz_5xx``: answers >= 500 over the seeded corpus of mutated OTLP requests
  (:mod:`axonize_testsupport.otlp_fuzz`, the one the test suite sends), over keep-alive HTTP.
- ``bomb_peak_rss_mb``: the server's resident memory peak above idle while it refuses a
  16 MiB gzip body that inflates to 15.5 GiB.
- ``fault_acked_lost``: acknowledged spans missing after rounds of ``kill -9`` under load and a
  restart (duplicates and the state of the embedded PostgreSQL after a final SIGTERM in the
  note).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.measure import Figure
from bench.sizes import Sizes

#: What the bomb inflates to: its body (about a thousandth of that) stays under 16 MiB.
INFLATED = 31 * 2**29


def faults(sizes: Sizes) -> list[Figure]:
    from axonize_testsupport.backend_process import Load, ServeProcess, stored_trace_ids
    from axonize_testsupport.otlp_fuzz import PB, KeepAliveClient, corpus
    from axonize_testsupport.pressure import PeakRss, gzip_bomb

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
        bomb = gzip_bomb(INFLATED)  # just under the server's 16 MiB request limit
        answers: list[int] = []

        def post_bomb() -> None:
            answers.append(client.post("/v1/traces", bomb, {
                "x-api-key": key, "content-type": PB, "content-encoding": "gzip"})[0])

        with PeakRss(server.rss_bytes) as rss:
            post_bomb()
        idle, peak = rss.start, rss.peak
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
               note=f"a {len(bomb) / 2**20:.1f} MiB gzip body inflating to "
                    f"{INFLATED / 2**30:.1f} GiB, answered "
                    f"{answers[0] if answers else '-'}; the server idles at "
                    f"{idle / 2**20:.0f} MB"),
    ]
