"""The plugin's version and the instrumentation scope its spans are exported under."""

from __future__ import annotations

from axonize_core.instrumentation import InstrumentationScope

__version__ = "0.1.0"

SCOPE = InstrumentationScope("axonize_vllm", __version__)
