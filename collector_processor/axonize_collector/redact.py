"""The redaction processor: masks secrets (by default) and personal data (when enabled) in the
string values of span attributes, event attributes and status messages; can drop content
attributes (prompts, completions, messages) entirely.

It counts what it masked (``redaction.masked`` on the span, ``masked`` in the pipeline's
counts) and never records a masked value.  A request whose encoded body matches none of the
patterns is passed without looking at its spans: string values are UTF-8 in the body, so a
pattern that matches a value matches the body too.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

from axonize_collector.patterns import PII, SECRETS, Pattern, custom, lookouts
from axonize_collector.pipeline import Counts, Processor, Resource
from axonize_collector.spans import put, remove
from axonize_collector.wire import span_ranges
from axonize_core import semconv as sc

#: Attributes that hold content (prompts, completions, messages, tool arguments): removed when
#: ``drop_content`` is on.  A name ending in ``.`` is a prefix.
CONTENT_KEYS: tuple[str, ...] = (
    sc.AI_LLM_PROMPT, sc.AI_LLM_COMPLETION, "gen_ai.prompt", "gen_ai.prompt.",
    "gen_ai.completion", "gen_ai.completion.", "gen_ai.input.messages",
    "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "llm.prompts", "llm.input_messages.", "llm.output_messages.",
    "input.value", "output.value",
)
CONTENT_EVENTS = ("gen_ai.content.prompt", "gen_ai.content.completion",
                  "gen_ai.user.message", "gen_ai.system.message", "gen_ai.assistant.message",
                  "gen_ai.tool.message", "gen_ai.choice", "gen_ai.client.inference.operation."
                  "details")


class RedactionProcessor(Processor):
    name = "redaction"
    verdicts = False
    atomic = False  # masks value by value

    def __init__(self, secrets: bool = True, pii: bool = False,
                 patterns: dict[str, str] | None = None, drop_content: bool = False,
                 content_keys: Sequence[str] = CONTENT_KEYS) -> None:
        chosen: list[Pattern] = []
        if secrets:
            chosen += SECRETS
        if pii:
            chosen += PII
        self._custom = custom(patterns or {})
        # The fast path: every pattern has a look-out (user patterns have none).
        scans = None if self._custom else lookouts(chosen)
        self._scans = None if scans is None else [re.compile(s) for s in scans]
        self.patterns = (*chosen, *self._custom)
        self._any_text = None if self._custom or not chosen else re.compile(
            "|".join(f"(?:{p.regex.pattern})" for p in chosen), re.ASCII)
        self.drop_content = drop_content
        self._exact = frozenset(k for k in content_keys if not k.endswith("."))
        self._prefixes = tuple(k for k in content_keys if k.endswith("."))

    def begin(self, req: Any, body: bytes | None) -> bool | frozenset[int]:
        """Only the spans whose bytes match a pattern (the body is protobuf; a JSON body could
        hide a secret behind escapes, so the relay passes none and every span is looked at)."""
        if self.drop_content or self._scans is None or body is None:
            return True
        if not self._scans:
            return False
        low = body.lower()
        hits = [m.start() for scan in self._scans for m in scan.finditer(low)]
        if not hits:
            return False
        try:
            ranges = span_ranges(body)
        except ValueError:
            return True
        starts = [r[0] for r in ranges]
        found = set()
        for at in hits:
            k = bisect_right(starts, at) - 1
            if k < 0 or at >= ranges[k][1]:
                return True  # in the resource or a scope: the governance processor may copy it
            found.add(k)
        return frozenset(found)

    def process(self, span: Any, resource: Resource, counts: Counts) -> None:
        masked = 0
        if self.drop_content:
            remove(span.attributes, self._is_content)
            events = [i for i, e in enumerate(span.events) if e.name in CONTENT_EVENTS]
            for i in reversed(events):
                del span.events[i]
            for e in span.events:
                remove(e.attributes, self._is_content)
        if self.patterns:
            masked += self._values(span.attributes)
            for e in span.events:
                masked += self._values(e.attributes)
            if span.status.message:
                text, n = self.mask(span.status.message)
                if n:
                    span.status.message = text
                    masked += n
        if masked:
            counts.masked += masked
            put(span.attributes, {sc.REDACTION_MASKED: masked})
        return None

    def _is_content(self, key: str) -> bool:
        return key in self._exact or key.startswith(self._prefixes)

    def _values(self, kvs: Iterable[Any]) -> int:
        n = 0
        for kv in kvs:
            n += self._value(kv.value)
        return n

    def _value(self, v: Any) -> int:
        kind = v.WhichOneof("value")
        if kind == "string_value":
            text, n = self.mask(v.string_value)
            if n:
                v.string_value = text
            return n
        if kind == "array_value":
            return sum(self._value(x) for x in v.array_value.values)
        if kind == "kvlist_value":
            return self._values(v.kvlist_value.values)
        return 0

    def mask(self, text: str) -> tuple[str, int]:
        """``text`` with every match masked, and how many were."""
        if self._any_text is not None and self._any_text.search(text) is None:
            return text, 0
        total = 0
        for p in self.patterns:
            if p.regex.search(text) is None:
                continue
            text, n = _mask_one(p, text)
            total += n
        return text, total


def _mask_one(p: Pattern, text: str) -> tuple[str, int]:
    count = 0
    mask = f"[REDACTED:{p.kind}]"

    def replace(m: re.Match[str]) -> str:
        nonlocal count
        if p.check is not None and not p.check(m.group(0)):
            return m.group(0)
        count += 1
        if p.group:
            s, e = m.span(p.group)
            base = m.start()
            whole = m.group(0)
            return whole[:s - base] + mask + whole[e - base:]
        return mask

    return p.regex.sub(replace, text), count
