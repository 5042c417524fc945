"""What can go wrong with a request, in the backend's own terms (no HTTP or gRPC here).

The HTTP API turns these into problem details and the gRPC server into status codes.
"""

from __future__ import annotations


def printable(text: str, limit: int = 1000) -> str:
    """``text`` as valid UTF-8 of at most about ``limit`` characters: a reason may quote the
    request (an OTLP/JSON body can hold a lone surrogate, which no response could carry)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


class BadRequest(ValueError):
    """A request that cannot be ingested; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


class Unauthorized(Exception):
    """A missing, unknown or revoked API key."""


class Overloaded(Exception):
    """Too many requests in flight: the client should retry (back-pressure)."""


class TenantExists(Exception):
    """A tenant of that name exists already (names are unique)."""
