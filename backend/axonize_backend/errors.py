"""What can go wrong with a request, in the backend's own terms (no HTTP or gRPC here).

The HTTP API turns these into problem details and the gRPC server into status codes.
"""

from __future__ import annotations


class BadRequest(ValueError):
    """A request that cannot be ingested; the message says why."""


class Unauthorized(Exception):
    """A missing, unknown or revoked API key."""


class Overloaded(Exception):
    """Too many requests in flight: the client should retry (back-pressure)."""


class TenantExists(Exception):
    """A tenant of that name exists already (names are unique)."""
