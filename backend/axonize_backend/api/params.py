"""Query parameters several endpoints share: the time range and the listing cursor."""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Annotated

from litestar.params import QueryParameter

from axonize_backend.api.problems import BadRequestProblem

SECOND_NS = 10**9
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 3600 * SECOND_NS
DAY_NS = 24 * HOUR_NS
TRACE_HEX = 32


@dataclass(frozen=True)
class TimeRange:
    """``[since_ns, until_ns)`` in unix nanoseconds."""

    since_ns: int
    until_ns: int

    @classmethod
    def of(
        cls, since: int | None, until: int | None, back_ns: int, ahead_ns: int, now_ns: int
    ) -> TimeRange:
        """The range the ``since``/``until`` query parameters ask for: by default from
        ``back_ns`` before ``now_ns`` to ``ahead_ns`` after it (spans from clocks a little
        ahead are included).  ``since`` after ``until`` is a bad request."""
        lo = since if since is not None else now_ns - back_ns
        hi = until if until is not None else now_ns + ahead_ns
        if lo > hi:
            raise BadRequestProblem("since must not be after until")
        return cls(lo, hi)


_UNTIL = Annotated[int | None, QueryParameter(description="unix ns, default now")]


def last_day(
    since: Annotated[int | None, QueryParameter(description="unix ns, default 24 h ago")] = None,
    until: _UNTIL = None,
) -> TimeRange:
    """The ``window`` dependency of listings and analytics: the last 24 hours by default."""
    return TimeRange.of(since, until, DAY_NS, MINUTE_NS, time.time_ns())


def last_hour(
    since: Annotated[int | None, QueryParameter(description="unix ns, default 1 h ago")] = None,
    until: _UNTIL = None,
) -> TimeRange:
    """The ``window`` dependency of GPU series: the last hour by default."""
    return TimeRange.of(since, until, HOUR_NS, MINUTE_NS, time.time_ns())


def last_30_days(
    since: Annotated[int | None, QueryParameter(description="unix ns, default 30 d ago")] = None,
    until: _UNTIL = None,
) -> TimeRange:
    """The ``window`` dependency of usage: the last 30 days by default."""
    return TimeRange.of(since, until, 30 * DAY_NS, DAY_NS, time.time_ns())


def encode_cursor(start_ns: int, trace_id: str) -> str:
    """The ``next_cursor`` of a listing whose last row is this trace."""
    return base64.urlsafe_b64encode(f"{start_ns}:{trace_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """(start ns, trace id) of a cursor from :func:`encode_cursor` (a 400 problem if it is not
    one)."""
    try:
        ns, trace = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        if len(trace) != TRACE_HEX:
            raise ValueError(trace)
        return int(ns), trace
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequestProblem("invalid cursor") from None


def attribute_filter(text: str) -> tuple[str, str]:
    """``key=value`` as (key, value); the value may be empty, the key may not."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise BadRequestProblem("attribute must be key=value")
    return key, value
