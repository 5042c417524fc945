"""The governance processor: owner attributes (team, project, customer_id, cost_center,
feature, environment) copied onto every span, so cost can be grouped by owner.

For each owner field a span lacks, the value comes from, in order: the span's GenOps attribute
(``genops.team``), the resource's ``owner.team``, the resource's ``genops.team``, then the
configured default.  A value the span already has is never overwritten.  Baggage set with
``axonize.owner(...)`` arrives as span attributes of the same names where the sender copies
baggage onto spans (OTel's ``BaggageSpanProcessor``) and is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from axonize_collector.pipeline import Counts, Processor, Resource
from axonize_collector.spans import find, put
from axonize_core.semconv import GENOPS_NAMES, OWNER_ATTRIBUTES

_OWNER = tuple(OWNER_ATTRIBUTES.values())
_SPAN_KEYS = frozenset((*_OWNER, *GENOPS_NAMES.values()))


class GovernanceProcessor(Processor):
    name = "governance"
    atomic = True

    def __init__(self, defaults: Mapping[str, str] | None = None) -> None:
        unknown = set(defaults or {}) - set(OWNER_ATTRIBUTES)
        if unknown:
            raise ValueError(f"governance defaults: unknown owner fields {sorted(unknown)}; "
                             f"choose from {sorted(OWNER_ATTRIBUTES)}")
        self.defaults = {OWNER_ATTRIBUTES[k]: str(v) for k, v in (defaults or {}).items()}
        self._by_resource: tuple[Any, dict[str, str]] | None = None

    def _from_resource(self, resource: Resource) -> dict[str, str]:
        cached = self._by_resource
        if cached is not None and cached[0] is resource:
            return cached[1]
        attrs = resource.attributes
        found = dict(self.defaults)
        for name in _OWNER:
            for key in (name, GENOPS_NAMES[name]):
                value = attrs.get(key)
                if value not in (None, ""):
                    found[name] = str(value)
                    break
        self._by_resource = (resource, found)
        return found

    def process(self, span: Any, resource: Resource, counts: Counts) -> None:
        have = find(span.attributes, _SPAN_KEYS)
        out = {}
        inherited = self._from_resource(resource)
        for name in _OWNER:
            if have.get(name) not in (None, ""):
                continue
            value = have.get(GENOPS_NAMES[name]) or inherited.get(name)
            if value not in (None, ""):
                out[name] = str(value)
        put(span.attributes, out)
        return None
