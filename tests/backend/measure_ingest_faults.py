"""Measure the ingest's fault figures on ``axonize-server serve`` processes (not a test).

    PYTHONPATH=... python tests/backend/measure_ingest_faults.py [--cases 10000] [--kills 3]

Prints JSON: ``fuzz_5xx`` (answers >= 500 over the seeded corpus of
:mod:`axonize_testsupport.otlp_fuzz`), ``bomb_peak_rss_mb`` (the server's resident memory
peak above idle while it refuses a 16 MiB gzip body that inflates to 16 GiB), and
``fault_acked_lost`` / ``fault_duplicated`` after ``--kills`` rounds of ``kill -9`` under load
and a restart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

from axonize_testsupport.backend_process import Load, ServeProcess, stored_trace_ids
from axonize_testsupport.otlp_fuzz import PB, KeepAliveClient, corpus


def gzip_bomb(compressed_bytes: int) -> bytes:
    """A gzip body of about ``compressed_bytes`` whose content is zeros, about a thousand times
    larger (blocks flushed in full repeat exactly, so it is made in no time; its trailer is not
    checked before the limit stops the reader)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    z.compress(zeros)
    z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * (compressed_bytes // len(block) - 1) + z.flush() + bytes(8)


def peak_rss_during(server: ServeProcess, action: object) -> tuple[float, float]:
    """(idle RSS, peak RSS) in MB of the server while ``action()`` runs."""
    idle = server.rss_bytes()
    peak = idle
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        action()  # type: ignore[operator]
    finally:
        done.set()
        thread.join()
    return idle / 2**20, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--no-bomb", action="store_true",
                        help="skip the bomb (a server that inflates it whole needs 16 GiB)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="axonize-measure-"))
    root.chmod(0o711)  # the embedded PostgreSQL's user must reach its folder
    data = root / "data"
    figures: dict[str, object] = {}
    try:
        server = ServeProcess(data)
        server.wait_ready()
        _, key = server.tenant("measure")
        client = KeepAliveClient("127.0.0.1", server.http_port)
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        for case in corpus(13, args.cases):
            status, _ = client.post(case.path, case.body,
                                    {"x-api-key": key, "content-type": case.content_type})
            statuses[status] += 1
        figures["fuzz_cases"] = args.cases
        figures["fuzz_seconds"] = round(time.monotonic() - started, 1)
        figures["fuzz_5xx"] = sum(n for s, n in statuses.items() if s >= 500)
        figures["fuzz_statuses"] = {str(s): n for s, n in sorted(statuses.items())}
        bomb = gzip_bomb(16 * 2**20 - 4096)
        answer: list[int] = []

        def post_bomb() -> None:
            status, _ = client.post("/v1/traces", bomb, {
                "x-api-key": key, "content-type": PB, "content-encoding": "gzip"})
            answer.append(status)

        if not args.no_bomb:
            idle, peak = peak_rss_during(server, post_bomb)
            figures["bomb_body_mb"] = round(len(bomb) / 2**20, 2)
            figures["bomb_status"] = answer[0]
            figures["bomb_idle_rss_mb"] = round(idle, 1)
            figures["bomb_peak_rss_mb"] = round(peak - idle, 1)
        client.close()
        acked: set[int] = set()
        for round_ in range(args.kills):
            load = Load(server, key, threads=4, base=round_ * 10**12 + 10**11)
            time.sleep(args.load_seconds)
            server.kill()
            load.stop()
            acked |= load.acked
            server = ServeProcess(data)
            server.wait_ready()
        stored = Counter(stored_trace_ids(server.url, key))
        load_ids = {t for t in stored if 10**11 <= t < 10**13}  # not the fuzz corpus
        figures["fault_kills"] = args.kills
        figures["fault_acked"] = len(acked)
        figures["fault_acked_lost"] = len(acked - load_ids)
        figures["fault_duplicated"] = sum(1 for t in load_ids if stored[t] > 1)
        figures["fault_stored_unacked"] = len(load_ids - acked)
        figures["sigterm_exit"] = server.terminate()
        figures["postgres_left_running"] = (data / "postgres" / "postmaster.pid").exists()
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
