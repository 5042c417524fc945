"""The shared query parameters: the time range, the listing cursor, the attribute filter."""

from __future__ import annotations

import base64

import pytest
from axonize_backend.api.params import (
    DAY_NS,
    MINUTE_NS,
    TimeRange,
    attribute_filter,
    decode_cursor,
    encode_cursor,
)
from axonize_backend.api.problems import BadRequestProblem

TRACE = "0123456789abcdef" * 2


def test_a_cursor_decodes_to_what_it_encodes() -> None:
    for start in (0, 1_700_000_000_123_456_789, -5):
        assert decode_cursor(encode_cursor(start, TRACE)) == (start, TRACE)


@pytest.mark.parametrize("cursor", [
    "not-a-cursor",
    base64.urlsafe_b64encode(b"123").decode(),  # no trace id
    base64.urlsafe_b64encode(b"x:" + TRACE.encode()).decode(),  # not a number
    base64.urlsafe_b64encode(b"1:abc").decode(),  # a short trace id
    base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),  # not text
])
def test_a_bad_cursor_is_a_400_problem(cursor: str) -> None:
    with pytest.raises(BadRequestProblem, match="invalid cursor") as bad:
        decode_cursor(cursor)
    assert bad.value.status_code == 400


def test_the_time_range_defaults_around_now() -> None:
    now = 10 * DAY_NS
    assert TimeRange.of(None, None, DAY_NS, MINUTE_NS, now) == TimeRange(
        now - DAY_NS, now + MINUTE_NS)
    assert TimeRange.of(5, None, DAY_NS, MINUTE_NS, now) == TimeRange(5, now + MINUTE_NS)
    assert TimeRange.of(0, 0, DAY_NS, MINUTE_NS, now) == TimeRange(0, 0)  # 0 is a time too


def test_since_after_until_is_a_400_problem() -> None:
    with pytest.raises(BadRequestProblem, match="since must not be after until"):
        TimeRange.of(11, 10, DAY_NS, MINUTE_NS, 0)
    with pytest.raises(BadRequestProblem):
        TimeRange.of(None, 5, DAY_NS, MINUTE_NS, 10 * DAY_NS)  # default since is after 5


def test_attribute_filter_is_key_equals_value() -> None:
    assert attribute_filter("a=b") == ("a", "b")
    assert attribute_filter("a=") == ("a", "")
    assert attribute_filter("a=b=c") == ("a", "b=c")
    for bad in ("a", "=b", ""):
        with pytest.raises(BadRequestProblem, match="key=value"):
            attribute_filter(bad)
