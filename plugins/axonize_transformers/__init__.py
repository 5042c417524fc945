"""Axonize plugin for Hugging Face transformers: a span for every ``generate`` call.

Patches ``GenerationMixin.generate`` (inherited by every generative model and used by
``pipeline("text-generation")``) when ``transformers.generation.utils`` is imported.
Each call gets a ``generate {model}`` span with input and output tokens (batch totals, padding
excluded), time to first token, tokens/s, time per output token, finish reasons, decoding
parameters, batch size and the model's device.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from axonize_core.instrumentation import BaseInstrumentor, unwrap
from axonize_transformers._scope import __version__

#: Versions this plugin is tested against (oldest and newest in CI).
_INSTRUMENTS = ("transformers >= 4.51, < 6",)


class TransformersInstrumentor(BaseInstrumentor):
    """Instruments ``transformers`` text generation."""

    name = "transformers"
    hook_module = "transformers.generation.utils"

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        import wrapt

        from axonize_transformers._generate import traced_generate

        wrapt.wrap_function_wrapper(
            "transformers.generation.utils", "GenerationMixin.generate", traced_generate
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        import transformers.generation.utils as utils

        unwrap(utils.GenerationMixin, "generate")


__all__ = ["TransformersInstrumentor", "__version__"]
