"""Server settings: command-line options over ``AXONIZE_*`` environment variables."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "axonize"


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 4317
    admin_key: str = ""
    clickhouse_url: str = ""
    postgres_dsn: str = ""
    ttl_days: int = 30
    max_request_bytes: int = 16 * 1024 * 1024
    # Listener limits (see axonize_backend.listeners)
    header_timeout_s: float = 10.0  # a request's headers, from connect or the last response
    body_timeout_s: float = 60.0  # its body, from its headers
    idle_timeout_s: float = 5.0  # an idle HTTP keep-alive connection
    grpc_idle_timeout_s: float = 300.0  # a gRPC connection with no RPC
    max_connections: int = 1024  # per listener
    # A collector config file (YAML or TOML) whose `processors` section is run on every trace
    # request before it is stored (docs/backend.md says what each costs); "" runs none.
    processors_file: str = ""
    metrics_label_limit: int = 100  # distinct values per label and tenant on /metrics
    # Spans with no cost.total_usd are priced from their model and token counts inside the
    # ClickHouse insert (axonize_backend.pricing), with these prices over the shipped table.
    price_tokens: bool = True
    price_file: str = ""
    # How long an API read waits for what was acknowledged before it to be loaded; past that
    # it answers with what is loaded and says so (header Axonize-Unloaded-Bytes).
    read_wait_s: float = 10.0
    _processors: dict[str, Any] | None = field(default=None, init=False, repr=False,
                                               compare=False)

    def processors(self) -> dict[str, Any]:
        """The ``processors`` section of ``processors_file`` ({} without one), read once: the
        ingest pipeline and the insert's prices see the same file."""
        if self._processors is None:
            section: dict[str, Any] = {}
            if self.processors_file:
                from axonize_collector.config import load_file

                section = dict(load_file(self.processors_file).get("processors") or {})
            self._processors = section
        return copy.deepcopy(self._processors)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerConfig:
        env = dict(os.environ if environ is None else environ)
        ttl = int(env.get("AXONIZE_TTL_DAYS", "30"))
        if not 7 <= ttl <= 90:
            raise ValueError(f"AXONIZE_TTL_DAYS must be from 7 to 90, got {ttl}")
        return cls(
            data_dir=Path(env.get("AXONIZE_DATA_DIR") or default_data_dir()),
            host=env.get("AXONIZE_HOST", "127.0.0.1"),
            http_port=int(env.get("AXONIZE_HTTP_PORT", "8080")),
            grpc_port=int(env.get("AXONIZE_GRPC_PORT", "4317")),
            admin_key=env.get("AXONIZE_ADMIN_KEY", ""),
            clickhouse_url=env.get("AXONIZE_CLICKHOUSE_URL", ""),
            postgres_dsn=env.get("AXONIZE_POSTGRES_DSN", ""),
            ttl_days=ttl,
            max_request_bytes=int(env.get("AXONIZE_MAX_REQUEST_BYTES", str(16 * 1024 * 1024))),
            header_timeout_s=float(env.get("AXONIZE_HEADER_TIMEOUT_S", "10")),
            body_timeout_s=float(env.get("AXONIZE_BODY_TIMEOUT_S", "60")),
            idle_timeout_s=float(env.get("AXONIZE_IDLE_TIMEOUT_S", "5")),
            max_connections=int(env.get("AXONIZE_MAX_CONNECTIONS", "1024")),
            processors_file=env.get("AXONIZE_PROCESSORS_FILE", ""),
            metrics_label_limit=int(env.get("AXONIZE_METRICS_LABEL_LIMIT", "100")),
            price_tokens=env.get("AXONIZE_PRICE_TOKENS", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            price_file=env.get("AXONIZE_PRICE_FILE", ""),
            read_wait_s=float(env.get("AXONIZE_READ_WAIT_S", "10")),
        )
