"""Limits of the listeners: no client, slow, idle or greedy, holds the server.

HTTP (uvicorn): a connection must send a request's headers within ``header_timeout_s`` of
opening (or of its previous response) and its body within ``body_timeout_s`` of its headers,
else it is closed; an idle keep-alive connection is closed after ``idle_timeout_s``; beyond
``max_connections`` connections or requests in flight, requests are answered ``503``; headers
are limited to 64 KiB.  gRPC: the same connection cap, handshake and idle limits, a bounded
number of streams per connection and of RPCs in flight (``RESOURCE_EXHAUSTED`` beyond), a
bounded thread pool, and the request size limit (after decompression, too).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from axonize_backend.config import ServerConfig

#: Largest request head (request line and headers) accepted over HTTP.
MAX_HEADER_BYTES = 64 * 1024


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's headers and body.

    uvicorn itself waits without limit for a request that has begun (its keep-alive timer
    stops at the first byte), so one byte a minute would hold a connection for ever.
    """

    header_timeout_s = 10.0
    body_timeout_s = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: Any = None  # the h11 state whose deadline runs

    def _arm(self, seconds: float, state: Any) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._waiting_for = state
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._waiting_for = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, h11.IDLE)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:  # the next request's headers are due
            self._arm(self.header_timeout_s, h11.IDLE)
        self._watch()

    def _watch(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._waiting_for is not h11.SEND_BODY:
            self._arm(self.body_timeout_s, h11.SEND_BODY)
        elif state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request is in; the app has it

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
            self.transport.close()


def uvicorn_config(app: Any, config: ServerConfig) -> uvicorn.Config:
    """uvicorn's settings for the HTTP listener of ``config``."""
    protocol = type(
        "AxonizeH11Protocol",
        (DeadlineH11Protocol,),
        {"header_timeout_s": config.header_timeout_s, "body_timeout_s": config.body_timeout_s},
    )
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.http_port,
        log_level="warning",
        http=protocol,
        timeout_keep_alive=max(1, round(config.idle_timeout_s)),
        limit_concurrency=config.max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        backlog=256,
    )


def grpc_options(config: ServerConfig) -> list[tuple[str, int]]:
    """gRPC server options for ``config``'s limits."""
    return [
        ("grpc.max_receive_message_length", config.max_request_bytes),
        ("grpc.max_metadata_size", MAX_HEADER_BYTES),
        ("grpc.max_allowed_incoming_connections", config.max_connections),
        ("grpc.max_concurrent_streams", 64),
        ("grpc.server_handshake_timeout_ms", int(config.header_timeout_s * 1000)),
        ("grpc.max_connection_idle_ms", int(config.grpc_idle_timeout_s * 1000)),
        ("grpc.max_connection_age_ms", 30 * 60 * 1000),
        ("grpc.max_connection_age_grace_ms", 30 * 1000),
        ("grpc.keepalive_time_ms", 60 * 1000),
        ("grpc.keepalive_timeout_ms", 20 * 1000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10 * 1000),
        ("grpc.http2.max_ping_strikes", 2),
    ]
