"""Finished spans as the exporter thread sees them: flat tuples, and what derives from them.

A span's ``__exit__`` pushes a tuple of plain values instead of the span object.  The span then
dies young, and the tuple (ints, strings, ``None`` and an attribute dict of plain values) is
untracked by the garbage collector the first time it looks: buffered spans never get promoted to
the older generations, which in a large inference process would make full collections (over
millions of tensors' worth of objects) more frequent.  Everything derived (span name, TTFT,
tokens/s, TPOT, GenAI names) is computed here, on the exporter thread.
"""

from __future__ import annotations

from typing import Any

from axonize_core import semconv as sc
from axonize_core._log import debug_once
from axonize_core._state import ENRICH
from axonize_core.cost import add_total

# Fields of a record.
NAME = 0
TRACE_ID = 1
SPAN_ID = 2
PARENT_SPAN_ID = 3
START_NS = 4
END_NS = 5
KIND = 6
ATTRIBUTES = 7
EVENTS = 8
STATUS_CODE = 9
STATUS_MESSAGE = 10
GPUS = 11
LLM = 12  # None, or the LLM fields below

# Fields of ``record[LLM]``.
OPERATION = 0
MODEL = 1
MODEL_VERSION = 2
PROVIDER = 3
TOKENS_INPUT = 4
TOKENS_OUTPUT = 5
TOKEN_COUNT = 6
FIRST_TOKEN_NS = 7
SCOPE = 8  # (name, version) of the instrumentation scope, None: Axonize's

Record = tuple[Any, ...]


def export_name(rec: Record) -> str:
    name = rec[NAME]
    if name:
        return str(name)
    llm = rec[LLM]
    if llm is None:
        return "span"
    return f"{llm[OPERATION]} {llm[MODEL]}" if llm[MODEL] else str(llm[OPERATION])


def output_tokens(llm: tuple[Any, ...]) -> int | None:
    """Explicit output count, else what ``record_token`` counted (None if never told)."""
    if llm[TOKENS_OUTPUT] is not None:
        return int(llm[TOKENS_OUTPUT])
    if llm[TOKEN_COUNT] or llm[FIRST_TOKEN_NS]:
        return int(llm[TOKEN_COUNT])
    return None


def export_attributes(rec: Record) -> dict[str, Any] | None:
    """The span's attributes plus what derives from its fields (before GenAI translation)."""
    attrs = rec[ATTRIBUTES]
    llm = rec[LLM]
    gpus = rec[GPUS]
    if llm is None:
        if gpus is None and rec[STATUS_CODE] != 2:
            return attrs  # type: ignore[no-any-return]
        out = dict(attrs) if attrs else {}
        if gpus is not None:
            out.setdefault(sc.GPU_DEVICES, gpus)
            _enrich(rec, out)
        if rec[STATUS_CODE] == 2:
            out.setdefault(sc.ERROR_TYPE, error_type(rec[EVENTS]))
        return out
    a: dict[str, Any] = {sc.AI_OPERATION_NAME: llm[OPERATION]}
    if llm[MODEL] is not None:
        a[sc.AI_MODEL_NAME] = llm[MODEL]
    if llm[MODEL_VERSION] is not None:
        a[sc.AI_MODEL_VERSION] = llm[MODEL_VERSION]
    if llm[PROVIDER] is not None:
        a[sc.AI_MODEL_PROVIDER] = llm[PROVIDER]
    if llm[TOKENS_INPUT] is not None:
        a[sc.AI_LLM_TOKENS_INPUT] = llm[TOKENS_INPUT]
    out_tokens = output_tokens(llm)
    if out_tokens is not None:
        a[sc.AI_LLM_TOKENS_OUTPUT] = out_tokens
    start, end, first = rec[START_NS], rec[END_NS], llm[FIRST_TOKEN_NS]
    if first:
        a[sc.AI_LLM_TTFT_MS] = max(0, first - start) / 1e6
        if rec[KIND] == 3 and ENRICH.genai_latest and llm[TOKEN_COUNT]:  # a streamed client call
            a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = max(0, first - start) / 1e9
        if out_tokens is not None and out_tokens > 1:
            a[sc.AI_LLM_TPOT_MS] = max(0, end - first) / 1e6 / (out_tokens - 1)
    if out_tokens and end > start:
        a[sc.AI_LLM_TOKENS_PER_SECOND] = out_tokens / ((end - start) / 1e9)
    if gpus is not None:
        a[sc.GPU_DEVICES] = gpus
    if rec[STATUS_CODE] == 2:
        a[sc.ERROR_TYPE] = error_type(rec[EVENTS])
    prices = ENRICH.prices
    if gpus is not None or prices is not None:
        if prices is not None:
            prices.add_token_cost(llm[MODEL], llm[TOKENS_INPUT], out_tokens, a)
        _enrich(rec, a)
    if attrs:
        a.update(attrs)  # what the user set explicitly wins
    return a


def _enrich(rec: Record, out: dict[str, Any]) -> None:
    """GPU window figures and the cost total (exporter thread; never raises)."""
    try:
        gpu = ENRICH.gpu
        if gpu is not None and rec[GPUS]:
            gpu.enrich(rec[GPUS], rec[START_NS], rec[END_NS], out)
        if ENRICH.prices is not None:
            add_total(out)
    except Exception:
        debug_once("gpu-enrich", "axonize: GPU attribution failed", exc_info=True)


def error_type(events: Any) -> str:
    """``error.type`` of a failed span: its exception's class, ``_OTHER`` if none was recorded."""
    for _, name, attrs in events or ():
        if name == "exception" and attrs:
            return str(attrs.get("exception.type", "_OTHER"))
    return "_OTHER"


def is_llm(rec: Any) -> bool:
    return type(rec) is tuple and rec[LLM] is not None
