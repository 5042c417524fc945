"""The policy processor: declarative rules that spans are checked against.

Rules: ``allow_models`` / ``deny_models`` (shell-style patterns such as ``gpt-4o*``, matched
against the response or request model), ``max_input_tokens`` / ``max_output_tokens`` /
``max_total_tokens``, and ``require_owner`` (owner fields a span must carry, e.g.
``[team, customer_id]``; run the governance processor first so that they are filled in).  A span
that breaks a rule gets ``policy.violations`` (the rule names) and ``policy.action``; the action
``mark`` keeps it, ``drop`` drops it, ``route`` sends it to the route named by ``route`` (an
endpoint of its own in the relay) instead of the main destinations.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from typing import Any

from axonize_collector.cost import INPUT_KEYS, MODEL_KEYS, OUTPUT_KEYS
from axonize_collector.pipeline import DROP, Counts, Processor, Resource
from axonize_collector.spans import find, put
from axonize_core import semconv as sc
from axonize_core.semconv import OWNER_ATTRIBUTES

ACTIONS = ("mark", "drop", "route")
#: The route name of policy-violating spans when the action is ``route``.
POLICY_ROUTE = "policy"
_KEYS = frozenset((*MODEL_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, *OWNER_ATTRIBUTES.values()))


def _patterns(globs: Sequence[str] | None) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(fnmatch.translate(g.lower()) for g in globs))


class PolicyProcessor(Processor):
    name = "policy"
    atomic = True

    def __init__(self, allow_models: Sequence[str] | None = None,
                 deny_models: Sequence[str] | None = None,
                 max_input_tokens: int | None = None, max_output_tokens: int | None = None,
                 max_total_tokens: int | None = None,
                 require_owner: Sequence[str] | None = None, action: str = "mark",
                 route: str = POLICY_ROUTE) -> None:
        if action not in ACTIONS:
            raise ValueError(f"policy action {action!r}: choose from {', '.join(ACTIONS)}")
        unknown = set(require_owner or ()) - set(OWNER_ATTRIBUTES)
        if unknown:
            raise ValueError(f"policy require_owner: unknown owner fields {sorted(unknown)}")
        self.allow = _patterns(allow_models)
        self.deny = _patterns(deny_models)
        self.max_input, self.max_output = max_input_tokens, max_output_tokens
        self.max_total = max_total_tokens
        self.required = tuple(OWNER_ATTRIBUTES[f] for f in require_owner or ())
        self.action = action
        self.route = route

    def violations(self, attrs: dict[str, Any]) -> list[str]:
        """The names of the rules that a span with these attributes breaks."""
        out = []
        model = next((str(attrs[k]) for k in MODEL_KEYS if attrs.get(k)), None)
        if model is not None:
            name = model.lower()
            if self.deny is not None and self.deny.match(name):
                out.append("deny_models")
            if self.allow is not None and not self.allow.match(name):
                out.append("allow_models")
        tokens_in = next((attrs[k] for k in INPUT_KEYS if k in attrs), None)
        tokens_out = next((attrs[k] for k in OUTPUT_KEYS if k in attrs), None)
        if self.max_input is not None and _int(tokens_in) > self.max_input:
            out.append("max_input_tokens")
        if self.max_output is not None and _int(tokens_out) > self.max_output:
            out.append("max_output_tokens")
        if self.max_total is not None and _int(tokens_in) + _int(tokens_out) > self.max_total:
            out.append("max_total_tokens")
        out.extend(f"require_owner:{k.split('.', 1)[1]}" for k in self.required
                   if attrs.get(k) in (None, ""))
        return out

    def process(self, span: Any, resource: Resource, counts: Counts) -> str | None:
        broken = self.violations(find(span.attributes, _KEYS))
        if not broken:
            return None
        put(span.attributes, {sc.POLICY_VIOLATIONS: broken, sc.POLICY_ACTION: self.action})
        if self.action == "drop":
            return DROP
        if self.action == "route":
            return self.route
        return None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
