"""``axonize.owner(team=..., customer_id=...)``: who the work in a block belongs to.

The owner fields are set as OpenTelemetry baggage (``owner.team``, ...; see
:data:`axonize_core.semconv.OWNER_ATTRIBUTES`), so any OTel propagator carries them to the
services this one calls.  Axonize's own LLM spans made in the block carry them as attributes;
OTel SDK spans do where baggage is copied onto span attributes (OTel's
``BaggageSpanProcessor``, or :func:`owner_span_processor`); or they come from the
resource (``OTEL_RESOURCE_ATTRIBUTES=owner.team=search``); the collector's governance processor
then copies them onto every span of the trace's service, so cost can be grouped by owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context

from axonize_core.semconv import OWNER_ATTRIBUTES

#: The owner attributes of the current block, for Axonize's own LLM spans (a context variable
#: is read in a few tens of ns; OTel baggage would cost a context lookup per span).
OWNER: ContextVar[dict[str, str] | None] = ContextVar("axonize_owner", default=None)


@contextmanager
def owner(*, team: str | None = None, project: str | None = None,
          customer_id: str | None = None, cost_center: str | None = None,
          feature: str | None = None, environment: str | None = None) -> Iterator[None]:
    """Within the block, the given owner fields are OTel baggage (the others stay as they
    were, so blocks nest: an inner ``owner(feature=...)`` keeps the outer team)."""
    fields = {"team": team, "project": project, "customer_id": customer_id,
              "cost_center": cost_center, "feature": feature, "environment": environment}
    ctx = otel_context.get_current()
    mine = dict(OWNER.get() or {})
    for name, value in fields.items():
        if value is not None:
            ctx = baggage.set_baggage(OWNER_ATTRIBUTES[name], str(value), ctx)
            mine[OWNER_ATTRIBUTES[name]] = str(value)
    token = otel_context.attach(ctx)
    own = OWNER.set(mine or None)
    try:
        yield
    finally:
        OWNER.reset(own)
        otel_context.detach(token)


def owner_in(context: Any) -> dict[str, str] | None:
    """The owner attributes that ``axonize.owner(...)`` put in an OTel context's baggage (the
    current one for None; None: none): what work carried to another thread with that context
    is owned by."""
    current = baggage.get_all(context)
    if not current:
        return None
    found = {name: str(current[name]) for name in OWNER_ATTRIBUTES.values() if name in current}
    return found or None


def owner_attributes() -> dict[str, str]:
    """The owner attributes of the current context (``{"owner.team": "search", ...}``)."""
    return owner_in(None) or {}


def owner_span_processor() -> Any:
    """An OTel SDK span processor that copies the owner baggage onto each span as it starts
    (``provider.add_span_processor(owner_span_processor())``), for spans the OTel SDK makes."""
    from opentelemetry.sdk.trace import SpanProcessor

    class OwnerSpanProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            current = baggage.get_all(parent_context)
            for name in OWNER_ATTRIBUTES.values():
                value = current.get(name)
                if value is not None:
                    span.set_attribute(name, str(value))

    return OwnerSpanProcessor()
