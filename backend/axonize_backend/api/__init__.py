"""The HTTP API: one controller module per resource, each with its wire types (msgspec
structs) beside it; :mod:`axonize_backend.app` assembles them into the Litestar app."""

from __future__ import annotations
