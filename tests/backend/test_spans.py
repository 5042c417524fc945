"""Which ClickHouse the span store talks to (the store's queries run in the end-to-end tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from axonize_backend.config import ServerConfig
from axonize_backend.spans import SpanStore
from axonize_testsupport import free_port


def test_a_clickhouse_url_is_used_instead_of_chdb(tmp_path: Path) -> None:
    """AXONIZE_CLICKHOUSE_URL sends the store to that server (here: nothing listens, so the
    driver's connection error), and no chDB directory is opened."""
    errors = pytest.importorskip("clickhouse_connect.driver.exceptions")
    port = free_port()
    config = ServerConfig(data_dir=tmp_path, clickhouse_url=f"http://default:x@127.0.0.1:{port}")
    with pytest.raises(errors.OperationalError, match=f"port={port}"):
        SpanStore.open(config)
    assert not (tmp_path / "clickhouse").exists()

