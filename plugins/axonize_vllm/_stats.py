"""A request's figures from vLLM's own bookkeeping: its output and ``RequestStateStats``.

The engine stamps a request on two clocks: ``arrival_time`` on the wall clock of the process
that received it, and ``queued_ts``, ``scheduled_ts``, ``first_token_ts`` and ``last_token_ts``
on the monotonic clock of the engine core (another process under ``AsyncLLM``; the monotonic
clock is the machine's, so one offset converts both).  Queue time is queued to scheduled,
prefill is scheduled to first token, decode is first to last token, as vLLM's own metrics
define them.
"""

from __future__ import annotations

import time
from typing import Any

from axonize_core.instrumentation import LlmSpan, Span, emit_span, now_ns, semconv

_NS = 1_000_000_000
_MS = 1e3

QUEUE_MS = semconv.AI_SERVER_QUEUE_MS
PREFILL_MS = semconv.AI_SERVER_PREFILL_MS
DECODE_MS = semconv.AI_SERVER_DECODE_MS
TTFT_MS = semconv.AI_SERVER_TTFT_MS
PREEMPTIONS = semconv.AI_SERVER_PREEMPTIONS
CACHED_TOKENS = semconv.AI_LLM_TOKENS_CACHED_INPUT
REQUEST_ID = semconv.AI_REQUEST_ID
CHOICE_COUNT = semconv.AI_LLM_REQUEST_CHOICE_COUNT

_SAMPLING = (
    ("max_tokens", semconv.AI_LLM_REQUEST_MAX_TOKENS),
    ("temperature", semconv.AI_LLM_REQUEST_TEMPERATURE),
    ("top_p", semconv.AI_LLM_REQUEST_TOP_P),
    ("top_k", semconv.AI_LLM_REQUEST_TOP_K),
    ("seed", semconv.AI_LLM_REQUEST_SEED),
)


def sampling_attributes(params: Any) -> dict[str, Any]:
    """The sampling parameters a span records (n, temperature, top_p, top_k, max_tokens...)."""
    a: dict[str, Any] = {}
    if params is None:
        return a
    for key, name in _SAMPLING:
        value = getattr(params, key, None)
        if value is not None and (key != "top_k" or value > 0):
            a[name] = value
    n = getattr(params, "n", None)
    if n is not None:
        a[CHOICE_COUNT] = n
    beam = getattr(params, "beam_width", None)
    if beam is not None:
        a[semconv.AI_LLM_REQUEST_NUM_BEAMS] = beam
    return a


def mono_to_wall_ns() -> int:
    """Add to ``time.monotonic()`` in ns to get the tracer's clock (``now_ns``)."""
    return now_ns() - time.monotonic_ns()


def completions(out: Any) -> list[Any]:
    """The ``CompletionOutput``s of a ``RequestOutput`` (none for a pooling output)."""
    outputs = getattr(out, "outputs", None)
    return outputs if isinstance(outputs, list) else []


class Timeline:
    """One request's engine timestamps on the tracer's clock (ns; 0 where unknown)."""

    __slots__ = ("arrival", "decode_ms", "first", "last", "preemptions", "prefill_ms",
                 "queue_ms", "queued", "scheduled", "ttft_ms")

    def __init__(self, stats: Any, offset: int) -> None:
        self.arrival = int(stats.arrival_time * _NS) if stats.arrival_time else 0
        ts = stats.queued_ts
        self.queued = int(ts * _NS) + offset if ts else 0
        ts = stats.scheduled_ts
        self.scheduled = int(ts * _NS) + offset if ts else 0
        ts = stats.first_token_ts
        self.first = int(ts * _NS) + offset if ts else 0
        ts = stats.last_token_ts
        self.last = int(ts * _NS) + offset if ts else 0
        self.preemptions: int | None = getattr(stats, "num_preemptions", None)  # vLLM >= 0.28
        latency = stats.first_token_latency
        self.ttft_ms = latency * _MS if latency else None
        self.queue_ms = _ms(self.queued, self.scheduled)
        self.prefill_ms = _ms(self.scheduled, self.first)
        self.decode_ms = _ms(self.first, self.last)

    def attributes(self, a: dict[str, Any]) -> None:
        for name, value in ((QUEUE_MS, self.queue_ms), (PREFILL_MS, self.prefill_ms),
                            (DECODE_MS, self.decode_ms), (TTFT_MS, self.ttft_ms)):
            if value is not None:
                a[name] = value
        if self.preemptions is not None:
            a[PREEMPTIONS] = self.preemptions

    def phases(self, parent: Span) -> None:
        """The request's life as child spans: queued, prefill, decode (scheduler's times)."""
        for name, start, end in (("vllm.request.queued", self.queued, self.scheduled),
                                 ("vllm.request.prefill", self.scheduled, self.first),
                                 ("vllm.request.decode", self.first, self.last)):
            if start and end >= start:
                emit_span(Span(name), start, end, parent=parent)


def _ms(start: int, end: int) -> float | None:
    return (end - start) / 1e6 if start and end >= start else None


def request_figures(span: LlmSpan, out: Any, stats: Any, a: dict[str, Any],
                    produced: int | None = None) -> None:
    """Tokens, finish reasons and cached prompt tokens of a finished ``RequestOutput``
    (``produced``: the output tokens, where the output holds only the last ones)."""
    prompt = getattr(out, "prompt_token_ids", None)
    if prompt is not None:
        span.set_tokens_input(len(prompt))
    seqs = completions(out)
    if produced is None:
        produced = sum(len(c.token_ids) for c in seqs)
    if seqs:
        span.set_tokens_output(produced)
    reasons = tuple(str(c.finish_reason) for c in seqs if c.finish_reason is not None)
    if reasons:
        a[semconv.AI_LLM_FINISH_REASONS] = reasons
    cached = getattr(out, "num_cached_tokens", None)
    if cached is not None:
        a[CACHED_TOKENS] = cached
    request_id = getattr(out, "request_id", None)
    if request_id is not None:
        a[REQUEST_ID] = str(request_id)
    if stats is not None and produced and len(seqs) > 1:
        # n > 1: TPOT per decode step (one token for every sequence each step).
        longest = max(len(c.token_ids) for c in seqs)
        if longest > 1 and stats.last_token_ts > stats.first_token_ts:
            a[semconv.AI_LLM_TPOT_MS] = (stats.last_token_ts - stats.first_token_ts) * _MS / (
                longest - 1)
    if stats is not None and produced > 1 and stats.last_token_ts > stats.first_token_ts:
        a[semconv.AI_SERVER_TOKENS_PER_SECOND] = (produced - 1) / (
            stats.last_token_ts - stats.first_token_ts)
