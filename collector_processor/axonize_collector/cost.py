"""The cost processor: ``cost.*`` for spans that arrive without it, from tokens and GPU time.

Prices come from the SDK's :class:`axonize_core.cost.PriceTable` (the same code the SDK prices
its own spans with), with the dated hosted-model table of :mod:`axonize_core.token_prices` on by
default, so a plain OpenTelemetry GenAI span holding only ``gen_ai.request.model`` (or
``gen_ai.response.model``) and ``gen_ai.usage.*`` is priced.  A span that already has
``cost.total_usd`` is left as it is.
"""

from __future__ import annotations

import struct
from typing import Any

from axonize_collector.cost_wire import COST, GPU, priced_attributes, token_attributes
from axonize_collector.pipeline import Counts, Processor, Resource
from axonize_collector.spans import append, duration_s, put
from axonize_collector.splice import encode_attribute
from axonize_core import semconv as sc
from axonize_core.cost import (
    TOKEN_INPUT_KEYS,
    TOKEN_MODEL_KEYS,
    TOKEN_OUTPUT_KEYS,
    PriceTable,
    add_total,
    mig_fraction,
)

#: Model names, most specific first; token counts (the SDK's, shared with the backend).
MODEL_KEYS = TOKEN_MODEL_KEYS
INPUT_KEYS = TOKEN_INPUT_KEYS
OUTPUT_KEYS = TOKEN_OUTPUT_KEYS
_FRESH = "\0fresh"  # a planned output's mark: the span has no cost.* key to replace
_GPU_FIELDS = (sc.GPU_NAME, sc.GPU_MIG_PROFILE)
_WANTED = frozenset((*MODEL_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, sc.COST_TOTAL_USD))
# The token fast path's output, encoded in one call: cost.tokens_usd, then cost.total_usd.
_TOKENS_HEAD = encode_attribute(sc.COST_TOKENS_USD, 0.0)[:-8]
_TOTAL_HEAD = encode_attribute(sc.COST_TOTAL_USD, 0.0)[:-8]
_TOKEN_COST = struct.Struct(f"<{len(_TOKENS_HEAD)}sd{len(_TOTAL_HEAD)}sd")


class CostProcessor(Processor):
    """Fills ``cost.tokens_usd``, ``cost.gpu_seconds``, ``cost.gpu_usd`` and ``cost.total_usd``
    where the prices are known."""

    name = "cost"
    verdicts = False
    atomic = True

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices if prices is not None else PriceTable.load(hosted=True)
        self._planned: dict[int, dict[str, Any]] | None = None
        #: The token fast path's plan: (cost.tokens_usd, cost.total_usd) by span.
        self._tokens: dict[int, tuple[float, float]] | None = None
        self._model_prices: dict[bytes, tuple[float, float] | None] = {}

    def begin(self, req: Any, body: bytes | None) -> bool | frozenset[int]:
        """With a protobuf body: price every span from the body (:mod:`.cost_wire`) and visit
        only the spans that get a price."""
        self._planned = self._tokens = None
        if body is None:
            return True
        fast = token_attributes(body)
        if fast is not None:
            self._tokens = self._token_plan(fast)
            return frozenset(self._tokens)
        found = priced_attributes(body)
        if found is None:
            return True
        planned: dict[int, dict[str, Any]] = {}
        for at, attrs in found.items():
            if GPU in attrs:
                planned[at] = {}  # GPU time needs the span's duration: decoded in process()
                continue
            out = self.price(attrs, {}, None)
            if out:
                if COST not in attrs:
                    out[_FRESH] = True  # none of the span's keys to replace: append
                planned[at] = out
        self._planned = planned
        return frozenset(planned)

    def _token_plan(self, found: dict[int, list[Any]]) -> dict[int, tuple[float, float]]:
        """:meth:`price` for spans priced from tokens alone (values by role, as
        :func:`.cost_wire.token_attributes` gives them): the same figures, computed the same
        way, with the model's prices looked up once per request and model."""
        plan: dict[int, tuple[float, float]] = {}
        cache = self._model_prices
        for at, (m0, m1, m2, m3, i0, i1, i2, o0, o1, o2) in found.items():
            model = m0 or m1 or m2 or m3  # the first that is set and not empty
            if not model:
                continue
            tokens_in = i0 if i0 is not None else i1 if i1 is not None else i2
            tokens_out = o0 if o0 is not None else o1 if o1 is not None else o2
            if tokens_in is None and tokens_out is None:
                continue
            if type(model) is bytes:
                try:
                    prices = cache[model]
                except KeyError:
                    prices = self.prices.token_prices(model.decode("utf-8", "replace"))
                    if len(cache) < 4096:
                        cache[model] = prices
            else:
                prices = self.prices.token_prices(str(model))
            if prices is None:
                continue
            a = float(tokens_in) if type(tokens_in) is int else _number(tokens_in)
            b = float(tokens_out) if type(tokens_out) is int else _number(tokens_out)
            usd = ((a or 0) * prices[0] + (b or 0) * prices[1]) / 1000.0  # add_token_cost's
            plan[at] = (usd, float(sum((usd,))))  # and add_total's
        return plan

    def spliced_encoded(self) -> dict[int, bytes] | None:
        tokens = self._tokens
        if tokens is None:
            return super().spliced_encoded()
        pack = _TOKEN_COST.pack
        return {at: pack(_TOKENS_HEAD, usd, _TOTAL_HEAD, total)
                for at, (usd, total) in tokens.items()}

    def spliced(self) -> dict[int, dict[str, Any]] | None:
        """The planned prices, when every priced span only gets new attributes."""
        if self._tokens is not None:
            return {at: {sc.COST_TOKENS_USD: usd, sc.COST_TOTAL_USD: total}
                    for at, (usd, total) in self._tokens.items()}
        planned = self._planned
        if planned is None or not all(out.get(_FRESH) for out in planned.values()):
            return None
        return {at: {k: v for k, v in out.items() if k != _FRESH} for at, out in planned.items()}

    def process(self, span: Any, resource: Resource, counts: Counts) -> None:
        if self._tokens is not None:
            planned = self._tokens.get(counts.at)
            if planned is not None:
                append(span.attributes, {sc.COST_TOKENS_USD: planned[0],
                                         sc.COST_TOTAL_USD: planned[1]})
            return None
        if self._planned is not None:
            out = self._planned.get(counts.at)
            if out:
                if out.pop(_FRESH, False):
                    append(span.attributes, out)
                else:
                    put(span.attributes, out)
                return None
            if out is None:
                return None
        found: dict[str, Any] = {}
        gpus: dict[str, dict[str, Any]] = {}
        for kv in span.attributes:
            key = kv.key
            if key in _WANTED:
                v = kv.value
                found[key] = v.int_value if v.HasField("int_value") else (
                    v.double_value if v.HasField("double_value") else v.string_value)
            elif key.startswith("gpu."):
                index, _, what = key[4:].partition(".")
                if what in _GPU_FIELDS and index.isdigit():
                    gpus.setdefault(index, {})[what] = kv.value.string_value
        out = self.price(found, gpus, span)
        put(span.attributes, out)
        return None

    def price(self, found: dict[str, Any], gpus: dict[str, dict[str, Any]] | None,
              span: Any) -> dict[str, Any]:
        """The ``cost.*`` attributes of a span with these attributes (``gpus`` by index, or
        None to read them from ``found``; ``span`` for its duration, or None for found's)."""
        if sc.COST_TOTAL_USD in found:
            return {}
        if gpus is None:
            gpus = {}
            for key, value in found.items():
                if key.startswith("gpu."):
                    index, _, what = key[4:].partition(".")
                    gpus.setdefault(index, {})[what] = str(value)
        out: dict[str, Any] = {}
        model = next((found[k] for k in MODEL_KEYS if found.get(k)), None)
        if model:
            tokens_in = next((found[k] for k in INPUT_KEYS if k in found), None)
            tokens_out = next((found[k] for k in OUTPUT_KEYS if k in found), None)
            if tokens_in is not None or tokens_out is not None:
                self.prices.add_token_cost(model, _number(tokens_in), _number(tokens_out), out)
        if gpus:
            self._gpu(gpus, duration_s(span) if span is not None else 0.0, out)
        add_total(out)
        return out

    def _gpu(self, gpus: dict[str, dict[str, Any]], seconds: float, out: dict[str, Any]) -> None:
        total_s = usd = 0.0
        priced = False
        for gpu in gpus.values():
            share = seconds * mig_fraction(gpu.get(sc.GPU_MIG_PROFILE))
            total_s += share
            hourly = self.prices.gpu_hourly(str(gpu.get(sc.GPU_NAME, "")))
            if hourly is not None:
                usd += share / 3600 * hourly
                priced = True
        out[sc.COST_GPU_SECONDS] = total_s
        if priced:
            out[sc.COST_GPU_USD] = usd


def _number(value: Any) -> float:
    if type(value) is bytes:  # a string value as found in the body
        value = value.decode("utf-8", "replace")
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0
