"""The Axonize backend: OTLP ingest, REST API and tenants over ClickHouse and PostgreSQL.

``axonize-server serve`` runs it on the embedded stores (chDB and a private PostgreSQL in the
data directory); ``AXONIZE_CLICKHOUSE_URL`` / ``AXONIZE_POSTGRES_DSN`` point it at servers.
"""

from __future__ import annotations

__version__ = "0.1.0"
