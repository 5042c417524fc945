"""The token prices the span store's insert applies (``token_cost`` of
:func:`~axonize_backend.sql.span_insert_sql`).

A span that arrives without ``cost.total_usd`` but with a model and token counts (a plain
OpenTelemetry GenAI span) is priced by ClickHouse as it is inserted, with the SDK's price table
(:class:`axonize_core.cost.PriceTable`: a price file over the dated hosted-model table): the
collector's cost processor's token pricing, at no cost to the ingest path.  A ``cost`` section
in the processors file (``enabled``, ``price_file``, ``hosted_prices``) applies here too.
"""

from __future__ import annotations

from typing import Any

from axonize_backend.config import ServerConfig
from axonize_core.cost import PriceTable


def insert_prices(config: ServerConfig) -> PriceTable | None:
    """The prices for the insert, or None when token pricing is off.  A bad price file raises
    ValueError saying what is wrong."""
    if not config.price_tokens:
        return None
    section: dict[str, Any] = config.processors().get("cost") or {}
    if not section.get("enabled", True):
        return None
    return PriceTable.load(section.get("price_file") or config.price_file or None,
                           hosted=bool(section.get("hosted_prices", True)))
