"""Axonize plugin for Hugging Face Diffusers: a span for every pipeline call.

Every ``DiffusionPipeline`` subclass's ``__call__`` is wrapped: those already imported when the
plugin activates, those Diffusers imports lazily later, and those a user defines afterwards
(``DiffusionPipeline.__init_subclass__`` wraps each new class as it is created, so nothing is
imported ahead of time).  Each call gets an ``{operation} {model}`` span (``image_generation``,
``video_generation`` or ``audio_generation``) with the recipe (pipeline, scheduler, steps,
guidance, size, batch, dtype, device, offload, attention, ``torch.compile``, VAE tiling and
slicing) and where the time went: time to first step, per-step mean/p50/max, steps/s,
images/s, text encoding, the denoising loop and VAE decoding (see docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from axonize_core.instrumentation import BaseInstrumentor
from axonize_diffusers._scope import __version__

#: Versions this plugin is tested against (oldest and newest in CI).
_INSTRUMENTS = ("diffusers >= 0.33, < 0.43",)


class DiffusersInstrumentor(BaseInstrumentor):
    """Instruments every Diffusers pipeline call."""

    name = "diffusers"
    hook_module = "diffusers.pipelines.pipeline_utils"

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        from diffusers.pipelines.pipeline_utils import DiffusionPipeline

        from axonize_diffusers._classes import install

        install(DiffusionPipeline)

    def _uninstrument(self, **kwargs: Any) -> None:
        from diffusers.pipelines.pipeline_utils import DiffusionPipeline

        from axonize_diffusers._classes import remove

        remove(DiffusionPipeline)


__all__ = ["DiffusersInstrumentor", "__version__"]
