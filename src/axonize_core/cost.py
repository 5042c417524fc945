"""Cost estimation: the price tables, shared by the SDK, the collector processors and the backend.

Three figures, each only where its price is known:

- GPU cost: GPU-seconds of the span x the price per GPU-hour of that product.  A MIG instance
  counts its share of the GPU's compute slices (a ``3g.40gb`` slice of 7 costs 3/7).
- Energy cost: the joules the profiler attributed to the span x a price per kWh.
- Token cost: input and output tokens x the price per 1k tokens of the model (API-style
  pricing).  Self-hosted models have none: add your own.  For hosted models (OpenAI,
  Anthropic, Google, Mistral) a dated table ships in :mod:`axonize_core.token_prices`; a
  ``PriceTable(hosted=True)`` (or ``load(..., hosted=True)``) uses it where no price of yours
  matches, which is what the collector does.  The SDK leaves it off by default.

**Where the defaults come from.**  :data:`GPU_HOURLY_USD` holds round reference figures in
the range of public on-demand list prices per GPU-hour at GPU clouds and hyperscalers in 2025
(single GPU, no commitment).  They were not fetched from a live price list and they vary by
provider and region by a factor of two or more: treat them as placeholders that make the figures
non-zero, and set your own (``AXONIZE_PRICE_FILE``).  The energy price default, 0.15 USD/kWh,
is a round figure for industrial electricity; ``AXONIZE_ENERGY_USD_PER_KWH`` sets yours.

A price file is JSON::

    {"gpu_hourly_usd": {"H100": 2.10, "L4": 0.55},
     "energy_usd_per_kwh": 0.11,
     "tokens_per_1k_usd": {"llama3.2": {"input": 0.0001, "output": 0.0003}}}

GPU keys match a product name case-insensitively as substrings (the longest match wins, so
``A100-SXM4-40GB`` can be priced apart from ``A100``); token keys match the model name exactly,
or as a prefix before ``:`` (``llama3.2`` prices ``llama3.2:latest``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from axonize_core import semconv as sc

#: Reference USD per GPU-hour (see the module docstring for what they are and are not).
GPU_HOURLY_USD: dict[str, float] = {
    "B200": 5.50,
    "H200": 3.50,
    "H100": 2.99,
    "GH200": 3.20,
    "A100": 1.79,
    "A100-SXM4-40GB": 1.29,
    "A100-PCIE-40GB": 1.29,
    "L40S": 1.00,
    "L40": 0.90,
    "L4": 0.70,
    "A10G": 1.00,
    "A10": 0.75,
    "V100": 0.90,
    "T4": 0.35,
    "RTX 4090": 0.40,
}
ENERGY_USD_PER_KWH = 0.15


#: Where a span names its model, most specific first (what answered before what was asked for),
#: and its token counts (the first present wins): what token pricing reads, wherever it runs.
TOKEN_MODEL_KEYS = (sc.GEN_AI_RESPONSE_MODEL, sc.AI_RESPONSE_MODEL, sc.GEN_AI_REQUEST_MODEL,
                    sc.AI_MODEL_NAME)
TOKEN_INPUT_KEYS = (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.AI_LLM_TOKENS_INPUT,
                    "gen_ai.usage.prompt_tokens")
TOKEN_OUTPUT_KEYS = (sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.AI_LLM_TOKENS_OUTPUT,
                     "gen_ai.usage.completion_tokens")


class PriceTable:
    """GPU-hour, energy and token prices: the shipped defaults overlaid with a price file."""

    def __init__(self, gpu_hourly_usd: Mapping[str, float] | None = None,
                 energy_usd_per_kwh: float = ENERGY_USD_PER_KWH,
                 tokens_per_1k_usd: Mapping[str, Mapping[str, float]] | None = None,
                 hosted: bool = False) -> None:
        table = dict(GPU_HOURLY_USD if gpu_hourly_usd is None else gpu_hourly_usd)
        # Longest key first, so the most specific product name wins.
        self._gpu = sorted(((k.lower(), float(v)) for k, v in table.items()),
                           key=lambda kv: -len(kv[0]))
        self.energy_usd_per_kwh = float(energy_usd_per_kwh)
        self._tokens = {k: (float(v.get("input", 0.0)), float(v.get("output", 0.0)))
                        for k, v in (tokens_per_1k_usd or {}).items()}
        self._gpu_cache: dict[str, float | None] = {}
        self._hosted: list[tuple[str, tuple[float, float]]] = []
        if hosted:
            from axonize_core.token_prices import HOSTED_TOKENS_PER_1K_USD

            self._hosted = sorted(
                ((k.lower(), (float(v.get("input", 0.0)), float(v.get("output", 0.0))))
                 for k, v in HOSTED_TOKENS_PER_1K_USD.items()), key=lambda kv: -len(kv[0]))
        self._hosted_cache: dict[str, tuple[float, float] | None] = {}

    @classmethod
    def load(cls, path: str | None = None, energy_usd_per_kwh: float | None = None,
             hosted: bool = False) -> PriceTable:
        """Defaults, overlaid with the JSON file at ``path`` (errors say what is wrong)."""
        gpu = dict(GPU_HOURLY_USD)
        energy = ENERGY_USD_PER_KWH
        tokens: dict[str, Mapping[str, float]] = {}
        if path:
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"price file {path}: {exc}") from None
            if not isinstance(data, dict):
                raise ValueError(f"price file {path}: expected a JSON object")
            unknown = set(data) - {"gpu_hourly_usd", "energy_usd_per_kwh", "tokens_per_1k_usd"}
            if unknown:
                raise ValueError(f"price file {path}: unknown keys {sorted(unknown)}; expected "
                                 "gpu_hourly_usd, energy_usd_per_kwh, tokens_per_1k_usd")
            gpu.update({str(k): float(v) for k, v in data.get("gpu_hourly_usd", {}).items()})
            energy = float(data.get("energy_usd_per_kwh", energy))
            tokens = {str(k): v for k, v in data.get("tokens_per_1k_usd", {}).items()}
        if energy_usd_per_kwh is not None:
            energy = energy_usd_per_kwh
        return cls(gpu, energy, tokens, hosted)

    def gpu_hourly(self, product: str) -> float | None:
        """USD per hour of a whole GPU of this product, None if unknown."""
        try:
            return self._gpu_cache[product]
        except KeyError:
            pass
        name = product.lower()
        price = next((v for k, v in self._gpu if k in name), None)
        self._gpu_cache[product] = price
        return price

    def token_prices(self, model: str) -> tuple[float, float] | None:
        found = self._tokens.get(model)
        if found is None and ":" in model:
            found = self._tokens.get(model.split(":", 1)[0])
        if found is None and self._hosted:
            found = self._hosted_prices(model)
        return found

    def token_tables(self) -> tuple[list[tuple[str, float, float]],
                                    list[tuple[str, float, float]]]:
        """The token prices as :meth:`token_prices` consults them, ``(name, input, output)``
        USD per 1k tokens, for code that looks them up elsewhere (the backend, inside its
        ClickHouse insert): first the price file's model names, matched exactly (then by the
        part before any ``:``), then the hosted table's lower-cased prefixes, longest first,
        matched against the lower-cased name after its last ``/``."""
        exact = [(k, i, o) for k, (i, o) in self._tokens.items()]
        hosted = [(k, i, o) for k, (i, o) in self._hosted]
        return exact, hosted

    def _hosted_prices(self, model: str) -> tuple[float, float] | None:
        """The shipped hosted-model price whose key is the longest prefix of ``model``."""
        try:
            return self._hosted_cache[model]
        except KeyError:
            pass
        name = model.lower().rsplit("/", 1)[-1]  # "openai/gpt-4o", "models/gemini-2.5-pro"
        found = next((v for k, v in self._hosted if name.startswith(k)), None)
        if len(self._hosted_cache) < 4096:
            self._hosted_cache[model] = found
        return found

    def add_token_cost(self, model: Any, tokens_in: Any, tokens_out: Any,
                       out: dict[str, Any]) -> None:
        if not (self._tokens or self._hosted) or not model:
            return
        prices = self.token_prices(str(model))
        if prices is None:
            return
        out[sc.COST_TOKENS_USD] = ((tokens_in or 0) * prices[0] + (tokens_out or 0) * prices[1]
                                   ) / 1000.0


def add_total(out: dict[str, Any]) -> None:
    """``cost.total_usd``: the sum of the cost figures present."""
    parts = [out[k] for k in (sc.COST_GPU_USD, sc.COST_ENERGY_USD, sc.COST_TOKENS_USD)
             if k in out]
    if parts:
        out[sc.COST_TOTAL_USD] = float(sum(parts))


#: Compute slices of a MIG-capable GPU (A100, H100, H200, B200).
MIG_SLICES = 7


def mig_fraction(profile: str | None) -> float:
    """The share of a GPU that a MIG profile's compute slices own (``3g.40gb`` -> 3/7); a
    whole GPU (no profile, or one not like ``<n>g.<m>gb``) is 1."""
    if not profile:
        return 1.0
    head = profile.split("g.", 1)[0]
    if not head.isdigit() or not 0 < int(head) <= MIG_SLICES:
        return 1.0
    return int(head) / MIG_SLICES
