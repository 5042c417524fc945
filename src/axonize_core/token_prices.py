"""Token prices of hosted models (USD per 1k tokens), for spans that carry only a model name and
token counts, such as the plain OpenTelemetry GenAI spans of an OpenAI or Anthropic client.

**Dated, not live.**  The figures are the providers' public list prices for standard (not batch,
not cached-input, not long-context) use as of :data:`PRICES_AS_OF`, written down by hand, not
fetched.  Providers change them; a price file (``tokens_per_1k_usd``, see
:mod:`axonize_core.cost`) overrides any entry, and a configuration can turn the table off.

Keys match a model name by its longest prefix, case-insensitively, after any ``provider/`` or
``models/`` prefix is removed, so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini`` (not
``gpt-4o``) and ``claude-3-5-sonnet-20241022`` as ``claude-3-5-sonnet``.
"""

from __future__ import annotations

#: The date the prices below were read from the providers' price pages.
PRICES_AS_OF = "2025-08-15"


def _per_1m(input_usd: float, output_usd: float) -> dict[str, float]:
    """Providers quote per million tokens; the table holds per 1k."""
    return {"input": input_usd / 1000.0, "output": output_usd / 1000.0}


#: Model name prefix -> {"input": USD per 1k tokens, "output": USD per 1k tokens}.
HOSTED_TOKENS_PER_1K_USD: dict[str, dict[str, float]] = {
    # OpenAI
    "gpt-5": _per_1m(1.25, 10.00),
    "gpt-5-mini": _per_1m(0.25, 2.00),
    "gpt-5-nano": _per_1m(0.05, 0.40),
    "gpt-4.1": _per_1m(2.00, 8.00),
    "gpt-4.1-mini": _per_1m(0.40, 1.60),
    "gpt-4.1-nano": _per_1m(0.10, 0.40),
    "gpt-4o": _per_1m(2.50, 10.00),
    "gpt-4o-mini": _per_1m(0.15, 0.60),
    "gpt-4-turbo": _per_1m(10.00, 30.00),
    "gpt-4": _per_1m(30.00, 60.00),
    "gpt-3.5-turbo": _per_1m(0.50, 1.50),
    "o1": _per_1m(15.00, 60.00),
    "o1-mini": _per_1m(1.10, 4.40),
    "o3": _per_1m(2.00, 8.00),
    "o3-mini": _per_1m(1.10, 4.40),
    "o4-mini": _per_1m(1.10, 4.40),
    "text-embedding-3-small": _per_1m(0.02, 0.0),
    "text-embedding-3-large": _per_1m(0.13, 0.0),
    # Anthropic
    "claude-opus-4": _per_1m(15.00, 75.00),
    "claude-sonnet-4": _per_1m(3.00, 15.00),
    "claude-3-7-sonnet": _per_1m(3.00, 15.00),
    "claude-3-5-sonnet": _per_1m(3.00, 15.00),
    "claude-3-5-haiku": _per_1m(0.80, 4.00),
    "claude-3-opus": _per_1m(15.00, 75.00),
    "claude-3-haiku": _per_1m(0.25, 1.25),
    # Google
    "gemini-2.5-pro": _per_1m(1.25, 10.00),
    "gemini-2.5-flash": _per_1m(0.30, 2.50),
    "gemini-2.5-flash-lite": _per_1m(0.10, 0.40),
    "gemini-2.0-flash": _per_1m(0.10, 0.40),
    "gemini-2.0-flash-lite": _per_1m(0.075, 0.30),
    "gemini-1.5-pro": _per_1m(1.25, 5.00),
    "gemini-1.5-flash": _per_1m(0.075, 0.30),
    # Mistral
    "mistral-large": _per_1m(2.00, 6.00),
    "mistral-medium": _per_1m(0.40, 2.00),
    "mistral-small": _per_1m(0.10, 0.30),
    "codestral": _per_1m(0.30, 0.90),
    "pixtral-large": _per_1m(2.00, 6.00),
    "ministral-8b": _per_1m(0.10, 0.10),
    "ministral-3b": _per_1m(0.04, 0.04),
    "open-mistral-nemo": _per_1m(0.15, 0.15),
}
