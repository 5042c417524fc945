"""How the span store reaches ClickHouse: in-process (chDB) or a server (clickhouse-connect).

The store (:class:`~axonize_backend.spans.SpanStore`) holds every query and migration; a
:class:`Transport` only runs them.  The two differ in how request bytes reach ClickHouse: chDB
reads them from a spool file, a server from the HTTP body (``input()``) or as an external table.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from axonize_backend.schema import SPAN_MESSAGE, SPAN_SCHEMA, SPAN_STRUCTURE
from axonize_backend.sql import (
    FORMAT_SETTINGS,
    dedup_settings,
    gpu_records_sql,
    hex_array,
    settings_clause,
    span_check_sql,
    span_insert_sql,
    sql_string,
)


class Transport(Protocol):
    #: SQL pricing the tokens of spans with no cost (:func:`~axonize_backend.sql.token_cost_sql`)
    token_cost: str | None

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a parameterised query (``{name:Type}`` placeholders) as dicts."""
        ...

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL)."""
        ...

    def hex_array(self, values: list[str]) -> Any:
        """An ``Array(String)`` parameter of lowercase hex ids, as this transport sends it."""
        ...

    def insert_requests(
        self,
        db: str,
        tenant_id: str,
        data: bytes,
        token: str,
        gpus: bool,
        settings: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Insert the spans of framed trace requests (:func:`~axonize_backend.sql.frame`) for
        one tenant (deduplicated by ``token``, with ``settings`` added to the insert's); with
        ``gpus``, return the rows of :func:`~axonize_backend.sql.gpu_records_sql` over the same
        requests."""
        ...

    def check_requests(self, tenant_id: str, data: bytes) -> None:
        """Decode framed trace requests as :meth:`insert_requests` does, storing nothing:
        raises where the insert would fail on the data."""
        ...

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table's rows (its columns by name) into ``table``."""
        ...

    def close(self) -> None: ...


class _ChdbSession(Protocol):
    """What the transport uses of ``chdb.session.Session`` (chDB's own is not annotated)."""

    def query(
        self, sql: str, fmt: str = ..., udf_path: str = ..., params: dict[str, Any] | None = ...
    ) -> Any: ...
    def close(self) -> None: ...


def json_rows(result: Any) -> list[dict[str, Any]]:
    """Rows of ClickHouse's JSONEachRow output (a chDB result, or its bytes)."""
    data = result.bytes() if hasattr(result, "bytes") else bytes(result)
    return [json.loads(line) for line in data.splitlines() if line]


class ChdbTransport:
    """ClickHouse in-process (chDB) on the data directory ``path``.

    Span inserts have a session of their own on the same engine, so that the API's queries do
    not wait behind them.
    """

    token_cost: str | None = None  # set by SpanStore.open

    def __init__(self, path: Path) -> None:
        from chdb import session  # chDB only when used: it loads the whole engine

        open_session: Callable[[str], _ChdbSession] = session.Session
        path.mkdir(parents=True, exist_ok=True)
        self._session = open_session(str(path))
        self._lock = threading.Lock()  # one query at a time on a session
        self._insert_session = open_session(str(path))
        self._insert_lock = threading.Lock()
        self._spool = path / "spool"  # request bytes on their way in
        self._spool.mkdir(exist_ok=True)
        # The schema as a file: ClickHouse compiles a schema file once, a schema string per query.
        schema = self._spool / "otlp_trace.proto"
        schema.write_text(SPAN_SCHEMA, encoding="utf-8")
        self._format_settings = {
            "format_schema": f"{schema}:{SPAN_MESSAGE}",
            "format_schema_source": "file",
        }

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            result = self._session.query(sql, "JSONEachRow", params=dict(params or {}))
        return json_rows(result)

    def command(self, sql: str) -> None:
        with self._lock:
            self._session.query(sql)

    def hex_array(self, values: list[str]) -> Any:
        return hex_array(values)  # chDB takes the literal form

    def insert_requests(
        self,
        db: str,
        tenant_id: str,
        data: bytes,
        token: str,
        gpus: bool,
        settings: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The requests go through a spool file that ClickHouse reads with ``file()``."""
        path = self._spool / f"{uuid.uuid4().hex}.pb"
        source = f"file({sql_string(str(path))}, 'Protobuf', {sql_string(SPAN_STRUCTURE)})"
        path.write_bytes(data)
        insert_settings = {**self._format_settings, **dedup_settings(token), **(settings or {})}
        with self._insert_lock:
            try:
                self._insert_session.query(
                    span_insert_sql(db, source, self.token_cost) + settings_clause(insert_settings),
                    params={"tenant": tenant_id},
                )
                if not gpus:
                    return []
                result = self._insert_session.query(
                    gpu_records_sql(source) + settings_clause(self._format_settings),
                    "JSONEachRow",
                )
                return json_rows(result)
            finally:
                path.unlink(missing_ok=True)

    def check_requests(self, tenant_id: str, data: bytes) -> None:
        path = self._spool / f"{uuid.uuid4().hex}.pb"
        source = f"file({sql_string(str(path))}, 'Protobuf', {sql_string(SPAN_STRUCTURE)})"
        path.write_bytes(data)
        with self._insert_lock:
            try:
                self._insert_session.query(
                    span_check_sql(source, self.token_cost)
                    + settings_clause(self._format_settings),
                    params={"tenant": tenant_id},
                )
            finally:
                path.unlink(missing_ok=True)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        cols = ", ".join(data.column_names)
        with self._lock:
            # chDB's Python() reads the local variable of that name (`data`).
            self._session.query(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM Python(data)")

    def close(self) -> None:
        with self._insert_lock, self._lock:
            for s in (self._insert_session, self._session):
                try:
                    s.close()
                except Exception:
                    pass


#: The name of the external table :class:`ServerTransport` sends request bytes as.
EXTERNAL_REQUESTS = "requests"


class ServerTransport:
    """A ClickHouse server (or cluster front) over HTTP with clickhouse-connect.

    ``url`` is a clickhouse-connect DSN (``http://user:password@host:8123``).
    """

    token_cost: str | None = None  # set by SpanStore.open

    def __init__(self, url: str) -> None:
        import clickhouse_connect  # only when a server is configured

        self._client = clickhouse_connect.get_client(dsn=url)
        self._lock = threading.Lock()

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            result = self._client.query(sql, parameters=dict(params or {}))
        return list(result.named_results())

    def command(self, sql: str) -> None:
        with self._lock:
            self._client.command(sql)

    def hex_array(self, values: list[str]) -> Any:
        hex_array(values)  # the same validation; the driver formats the list itself
        return list(values)

    def insert_requests(
        self,
        db: str,
        tenant_id: str,
        data: bytes,
        token: str,
        gpus: bool,
        settings: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The request bytes go in the HTTP body, read with ``input()``; for the GPU records
        they are sent again as an external table."""
        from clickhouse_connect.driver.external import ExternalData

        with self._lock:
            self._client.command(
                span_insert_sql(db, f"input({sql_string(SPAN_STRUCTURE)})", self.token_cost)
                + " FORMAT Protobuf",
                parameters={"tenant": tenant_id},
                data=data,
                settings={**FORMAT_SETTINGS, **dedup_settings(token), **(settings or {})},
            )
            if not gpus:
                return []
            external = ExternalData(
                file_name=EXTERNAL_REQUESTS, data=data, fmt="Protobuf", structure=SPAN_STRUCTURE
            )
            result = self._client.query(
                gpu_records_sql(EXTERNAL_REQUESTS),
                settings=FORMAT_SETTINGS,
                external_data=external,
            )
            return list(result.named_results())

    def check_requests(self, tenant_id: str, data: bytes) -> None:
        from clickhouse_connect.driver.external import ExternalData

        external = ExternalData(
            file_name=EXTERNAL_REQUESTS, data=data, fmt="Protobuf", structure=SPAN_STRUCTURE
        )
        with self._lock:
            self._client.query(
                span_check_sql(EXTERNAL_REQUESTS, self.token_cost),
                parameters={"tenant": tenant_id},
                settings=FORMAT_SETTINGS,
                external_data=external,
            )

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        with self._lock:
            self._client.insert_arrow(table, data)

    def close(self) -> None:
        with self._lock:
            try:
                self._client.close()
            except Exception:
                pass
