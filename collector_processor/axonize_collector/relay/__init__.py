"""``axonize-collector``: an OTLP relay that runs the processors between senders and backends."""

from __future__ import annotations
