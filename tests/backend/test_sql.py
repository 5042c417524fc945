"""The pure builders of the span store's SQL (the end-to-end tests run them on chDB)."""

from __future__ import annotations

import pytest
from axonize_backend.schema import COLUMN_KEYS, SPAN_COLUMNS
from axonize_backend.sql import (
    dedup_settings,
    frame,
    gpu_records_sql,
    hex_array,
    settings_clause,
    span_insert_sql,
    sql_string,
)


def _unframe(data: bytes) -> list[bytes]:
    """Split varint-length-prefixed messages (what ClickHouse's Protobuf format reads)."""
    out, i = [], 0
    while i < len(data):
        n = shift = 0
        while True:
            byte = data[i]
            i += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out.append(data[i : i + n])
        i += n
    return out


def test_sql_string_escapes_quotes_and_backslashes() -> None:
    assert sql_string("it's") == "'it\\'s'"
    assert sql_string("a\\'b") == "'a\\\\\\'b'"
    assert sql_string("") == "''"


@pytest.mark.parametrize("sizes", [[0], [1, 127], [128, 300], [16_384, 2_000_000, 5]])
def test_frame_prefixes_each_request_with_its_varint_length(sizes: list[int]) -> None:
    bodies = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    assert _unframe(frame(bodies)) == bodies


def test_a_two_byte_varint() -> None:
    assert frame([b"x" * 300]).startswith(b"\xac\x02")  # 300 = 0b10_0101100


def test_settings_clause_quotes_text_and_keeps_integers() -> None:
    assert settings_clause({"a": 1, "b": "x'y"}) == " SETTINGS a = 1, b = 'x\\'y'"


def test_dedup_settings_only_with_a_token() -> None:
    assert dedup_settings("") == {}
    assert dedup_settings("seg:0")["insert_deduplication_token"] == "seg:0"


def test_hex_array_takes_only_lowercase_hex() -> None:
    assert hex_array(["00ff", "ab"]) == "['00ff','ab']"
    for bad in (["00FF"], ["x1"], [""], ["ab", "'); DROP"]):
        with pytest.raises(ValueError):
            hex_array(bad)


def test_span_insert_fills_every_column_in_order_for_the_tenant_parameter() -> None:
    sql = span_insert_sql("db1", "file('x')")
    assert sql.startswith(f"INSERT INTO db1.spans ({', '.join(SPAN_COLUMNS)})")
    assert f"SELECT {', '.join('x_' + c for c in SPAN_COLUMNS)} FROM" in sql
    assert "{tenant:String} AS x_tenant_id" in sql
    assert "FROM file('x') ARRAY JOIN resource_spans" in sql
    # Attributes kept as columns are left out of the attributes map.
    assert all(sql_string(k) in sql for k in COLUMN_KEYS)


def test_gpu_records_read_the_same_source() -> None:
    sql = gpu_records_sql("requests")
    assert sql.startswith("SELECT DISTINCT service,")
    assert "FROM requests ARRAY JOIN resource_spans" in sql
