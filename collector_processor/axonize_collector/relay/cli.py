"""``axonize-collector``: the command line of the OTLP relay."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from axonize_collector.config import Exporter, Settings, load_file, settings, workers_setting
from axonize_collector.relay.app import Relay
from axonize_collector.relay.receive import start_grpc, start_http

DESCRIPTION = """\
An OTLP relay: receives traces over OTLP/gRPC and OTLP/HTTP (protobuf or JSON), prices them
(cost.*), masks secrets, optionally masks personal data, attributes owners, checks budgets and
policies, samples, and forwards them to one or more OTLP destinations (Jaeger, Tempo, Phoenix,
Langfuse, a vendor's intake, axonize-server) with retries and a bounded on-disk queue: spans
accepted while a destination is down survive a restart of the relay and are sent, once, when it
is back.  Cost and secret redaction are on by default.

  axonize-collector --to grpc://localhost:14317
  axonize-collector --config collector.yaml

HTTP endpoints on the HTTP port: POST /v1/traces, GET /healthz (or /health), GET /readyz
(or /ready: 503 while a destination's queue is full), GET /metrics
(the relay's counters: received, forwarded, queued, masked, dropped, failed, ...).
"""

EPILOG = """\
environment: AXONIZE_COLLECTOR_PII=1 masks personal data, AXONIZE_COLLECTOR_DROP_CONTENT=1
removes prompts and completions, AXONIZE_COLLECTOR_COST=0 and AXONIZE_COLLECTOR_REDACT=0 turn
pricing and redaction off, AXONIZE_COLLECTOR_WORKERS sets --workers, AXONIZE_PRICE_FILE names a
price file (JSON, see docs/collector.md).
Flags given on the command line override the config file.  Exit status: 0 after SIGTERM or
SIGINT, 2 for a bad flag or configuration."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="axonize-collector", description=DESCRIPTION,
                                epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE",
                   help="YAML (.yaml, .yml; needs PyYAML: pip install 'axonize[collector]') or "
                        "TOML (.toml) file with the sections receivers, exporters, routes, "
                        "queue and processors; see docs/collector.md")
    p.add_argument("--grpc-port", type=int, metavar="PORT",
                   help="port of the OTLP/gRPC listener (default 4317; 0 picks a free one)")
    p.add_argument("--http-port", type=int, metavar="PORT",
                   help="port of the OTLP/HTTP listener, /healthz and /metrics (default 4318)")
    p.add_argument("--host", metavar="ADDR",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--to", action="append", metavar="URL", default=[],
                   help="a destination, repeatable (each gets every span): grpc://host:port "
                        "for OTLP/gRPC, http(s)://host:port[/v1/traces] for OTLP/HTTP protobuf; "
                        "added to the config file's exporters")
    p.add_argument("--queue-dir", metavar="DIR",
                   help="where spans wait for a destination (default ./axonize-collector-queue)")
    p.add_argument("--queue-max-mb", type=float, metavar="MB",
                   help="bound of the on-disk queue, shared by the destinations (default 256); "
                        "beyond it, senders are told to retry later")
    p.add_argument("--pii", action="store_true",
                   help="also mask personal data: emails, phone numbers, card numbers (Luhn "
                        "checked), IP addresses")
    p.add_argument("--drop-content", action="store_true",
                   help="remove prompt, completion and message attributes entirely")
    p.add_argument("--workers", metavar="N",
                   help="processes that run the processors, besides the relay's own (default "
                        "auto: one per core, at most 4, none on a single core; 0 runs them in "
                        "the relay's process).  Only when no processor keeps state across "
                        "requests: with budget or sample they always run in the relay's")
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    return p


def configure(args: argparse.Namespace) -> Settings:
    s = settings(load_file(args.config) if args.config else {})
    if args.grpc_port is not None:
        s.grpc_port = args.grpc_port
    if args.http_port is not None:
        s.http_port = args.http_port
    if args.host:
        s.host = args.host
    s.exporters += [Exporter(url) for url in args.to]
    if args.queue_dir:
        s.queue_dir = args.queue_dir
    workers = args.workers or os.environ.get("AXONIZE_COLLECTOR_WORKERS") or None
    if workers is not None:
        s.workers = workers_setting(workers, "--workers")
    if args.queue_max_mb is not None:
        s.queue_max_bytes = int(args.queue_max_mb * 2**20)
    red = s.processors.setdefault("redaction", {}) or {}
    s.processors["redaction"] = red
    if args.pii:
        red["pii"] = True
    if args.drop_content:
        red["drop_content"] = True
    return s


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        s = configure(args)
        relay = Relay(s)
    except ValueError as exc:
        print(f"axonize-collector: {exc}", file=sys.stderr)
        return 2
    relay.start()
    try:
        grpc_server, grpc_port = start_grpc(relay, s.host, s.grpc_port)
        http_server, http_port = start_http(relay, s.host, s.http_port)
    except OSError as exc:  # a port in use, an address not ours
        print(f"axonize-collector: cannot listen: {exc}", file=sys.stderr)
        relay.stop()
        return 2
    # The ports as bound (0 picks a free one): a line that scripts and tests can read.
    print(f"axonize-collector listening grpc={s.host}:{grpc_port} http={s.host}:{http_port} "
          f"to={','.join(e.url for e in s.exporters)}", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    grpc_server.stop(5).wait()
    http_server.shutdown()
    relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
