"""The wrappers: a pipeline's ``__call__`` and its ``progress_bar``."""

from __future__ import annotations

import statistics
from contextvars import ContextVar
from typing import Any

from axonize_core.instrumentation import (
    capture_steps_enabled,
    is_tracing,
    log_internal_error,
    now_ns,
    semconv,
)
from axonize_diffusers import _recipe
from axonize_diffusers._scope import SCOPE
from axonize_diffusers._steps import StageTimer, StepClock, TimedBar

#: The traced call in progress in this context: a pipeline called from inside another (a
#: combined pipeline, a subclass calling ``super().__call__``) adds its steps to it, no span.
_ACTIVE: ContextVar[_PipelineCall | None] = ContextVar("axonize_diffusers_call", default=None)
_TEXT = "text_encode"
_DECODE = "vae_decode"


def traced_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not is_tracing() or _ACTIVE.get() is not None:
        return wrapped(*args, **kwargs)
    try:
        call = _PipelineCall(instance if instance is not None else args[0],
                             args if instance is not None else args[1:], kwargs)
    except Exception:
        log_internal_error("diffusers-prepare", "axonize: could not read a pipeline call")
        return wrapped(*args, **kwargs)
    token = _ACTIVE.set(call)
    try:
        with call.span:
            call.begin()
            try:
                output = wrapped(*args, **kwargs)
            finally:
                call.end()
            call.finish(output)
            return output
    finally:
        _ACTIVE.reset(token)


def traced_progress_bar(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    bar = wrapped(*args, **kwargs)
    call = _ACTIVE.get()
    if call is None or bar is None or call.clock is None or isinstance(bar, TimedBar):
        return bar  # (an override calling super().progress_bar: time its steps once)
    try:
        return TimedBar(bar, call.clock)
    except Exception:
        log_internal_error("diffusers-bar", "axonize: could not time a progress bar")
        return bar


class _PipelineCall:
    __slots__ = ("clock", "device", "outputs", "pipe", "span", "stages")

    def __init__(self, pipe: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        bound, operation = _recipe.bind(pipe, args, kwargs)
        name = _recipe.model_name(pipe)
        self.span = span = SCOPE.LlmSpan(f"{operation} {name}", name, operation=operation,
                                         provider="diffusers")
        self.pipe = pipe
        attrs, self.outputs = _recipe.request_attributes(pipe, bound)
        setup, self.device = _recipe.setup_attributes(pipe)
        attrs.update(setup)
        span.set_attributes(attrs)
        gpu = _recipe.accelerator(self.device)
        if gpu is not None:
            span.set_gpus(gpu)
        self.clock: StepClock | None = None
        self.stages: StageTimer | None = None

    def begin(self) -> None:
        """Start timing steps and stages (the span is open; never raises)."""
        if not self.span.sampled:
            return  # sampled out: nothing to time
        try:
            self.clock = StepClock(self.span, capture_steps_enabled())
            stages = self.stages = StageTimer()
            pipe = self.pipe
            for name in ("text_encoder", "text_encoder_2", "text_encoder_3"):
                stages.watch(_TEXT, getattr(pipe, name, None))
            for name in ("vae", "movq", "vqvae"):
                module = getattr(pipe, name, None)
                if module is not None:
                    stages.watch(_DECODE, getattr(module, "decoder", None))
                    break
        except Exception:
            log_internal_error("diffusers-begin", "axonize: could not start timing a call")

    def end(self) -> None:
        """Stop timing and set the figures (never raises; also after an exception)."""
        clock, stages = self.clock, self.stages
        if clock is None:
            return
        try:
            if stages is not None:
                stages.remove()
            clock.close()
            self._figures(clock, stages)
        except Exception:
            log_internal_error("diffusers-end", "axonize: could not read a call's timings")

    def _figures(self, clock: StepClock, stages: StageTimer | None) -> None:
        span = self.span
        attrs: dict[str, Any] = {}
        if clock.count:
            durations = clock.durations
            attrs[semconv.AI_DIFFUSION_STEPS] = clock.count
            attrs[semconv.AI_DIFFUSION_TIME_TO_FIRST_STEP_MS] = (
                (clock.first_step_ns - span.start_ns) / 1e6)
            attrs[semconv.AI_DIFFUSION_STEP_MS_AVG] = sum(durations) / len(durations) / 1e6
            attrs[semconv.AI_DIFFUSION_STEP_MS_P50] = statistics.median(durations) / 1e6
            attrs[semconv.AI_DIFFUSION_STEP_MS_MAX] = max(durations) / 1e6
        denoise = sum(end - start for start, end in clock.windows)
        if denoise > 0:
            attrs[semconv.AI_DIFFUSION_DENOISE_MS] = denoise / 1e6
            if clock.count:
                attrs[semconv.AI_DIFFUSION_STEPS_PER_SECOND] = clock.count / (denoise / 1e9)
        if stages is not None:
            for stage, key in ((_TEXT, semconv.AI_DIFFUSION_TEXT_ENCODE_MS),
                               (_DECODE, semconv.AI_DIFFUSION_VAE_DECODE_MS)):
                ms = stages.stage_ms(stage, clock.windows)
                if ms is not None:
                    attrs[key] = ms
        if getattr(self.device, "type", None) == "cuda":
            import torch

            attrs[semconv.AI_DIFFUSION_MEMORY_PEAK_BYTES] = int(
                torch.cuda.max_memory_allocated(self.device))
        span.set_attributes(attrs)

    def finish(self, output: Any) -> None:
        """What came out: outputs, their size, outputs/s (never raises)."""
        if not self.span.sampled:
            return
        try:
            self._count(output)
        except Exception:
            log_internal_error("diffusers-finish", "axonize: could not read a pipeline result")

    def _count(self, output: Any) -> None:
        span = self.span
        attrs = span.attributes or {}
        items = _outputs(output)
        count, height, width = _shape(items) if items is not None else (None, None, None)
        if count is None:
            count = self.outputs
        if count is not None:
            span.set_attribute(semconv.AI_DIFFUSION_IMAGES, count)
            elapsed = now_ns() - span.start_ns
            if elapsed > 0 and count:
                span.set_attribute(semconv.AI_DIFFUSION_IMAGES_PER_SECOND, count / (elapsed / 1e9))
        if height is not None and semconv.AI_DIFFUSION_HEIGHT not in attrs:
            span.set_attribute(semconv.AI_DIFFUSION_HEIGHT, height)
        if width is not None and semconv.AI_DIFFUSION_WIDTH not in attrs:
            span.set_attribute(semconv.AI_DIFFUSION_WIDTH, width)


def _outputs(output: Any) -> Any:
    """The images (frames, audios) of a pipeline's result, dataclass or tuple."""
    if isinstance(output, tuple):
        return output[0] if output else None
    for name in ("images", "frames", "audios"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    return None


def _shape(items: Any) -> tuple[int | None, int | None, int | None]:
    """(count, height, width) of a list of PIL images, an NHWC array or an NCHW tensor."""
    if isinstance(items, list):
        if not items:
            return 0, None, None
        size = getattr(items[0], "size", None)
        if isinstance(size, tuple) and len(size) == 2:
            return len(items), int(size[1]), int(size[0])
        return len(items), None, None
    shape = getattr(items, "shape", None)
    if shape is None or len(shape) == 0:
        return None, None, None
    count = int(shape[0])
    if len(shape) == 4:
        if shape[-1] in (1, 3, 4) and type(items).__module__.startswith("numpy"):
            return count, int(shape[1]), int(shape[2])
        if shape[1] in (1, 3):  # NCHW pixels (latents have 4+ channels: no size)
            return count, int(shape[2]), int(shape[3])
    return count, None, None
