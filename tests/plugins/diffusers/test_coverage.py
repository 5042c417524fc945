"""Which calls are traced: built-in, lazily imported and user-defined pipelines, nested calls,
and nothing at all after ``uninstrument()``."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch
from axonize_diffusers import DiffusersInstrumentor, _recipe, _steps
from axonize_testsupport import tiny_diffusion
from diffusers import DDPMPipeline, DiffusionPipeline, ImagePipelineOutput

from axonize.testing import Capture

ORIGINAL_DDPM_CALL = DDPMPipeline.__dict__["__call__"]
ORIGINAL_PROGRESS_BAR = DiffusionPipeline.__dict__["progress_bar"]


def names(capture: Capture) -> list[str]:
    return [s["name"] for s in capture.spans_as_dicts()]


class HandWritten(DiffusionPipeline):  # defined before instrument(): wrapped when it starts
    def __init__(self, unet: Any, scheduler: Any) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    @torch.no_grad()
    def __call__(self, num_inference_steps: int = 2) -> ImagePipelineOutput:
        self.scheduler.set_timesteps(num_inference_steps)
        sample = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        with self.progress_bar(total=num_inference_steps) as bar:
            for t in self.scheduler.timesteps:
                noise = self.unet(sample, t).sample
                sample = self.scheduler.step(noise, t, sample).prev_sample
                bar.update()
        return ImagePipelineOutput(images=sample.numpy().transpose(0, 2, 3, 1))


def test_a_subclass_defined_after_instrument_is_traced_once(traced: Capture) -> None:
    class Tuned(DDPMPipeline):  # created while instrumented: __init_subclass__ wraps it
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("num_inference_steps", 2)
            return super().__call__(*args, **kwargs)  # the wrapped DDPM call: no second span

    base = tiny_diffusion.ddpm()
    pipe = Tuned(unet=base.unet, scheduler=base.scheduler)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(output_type="np")
    (span,) = traced.spans_as_dicts()
    assert out.images.shape == (1, 8, 8, 3)
    assert span["name"] == "image_generation Tuned"
    assert span["attributes"]["ai.diffusion.pipeline"] == "Tuned"
    assert span["attributes"]["ai.diffusion.steps"] == 2


def test_a_hand_written_pipeline_with_its_own_loop(traced: Capture) -> None:
    base = tiny_diffusion.ddpm()
    pipe = HandWritten(unet=base.unet, scheduler=base.scheduler)
    pipe.set_progress_bar_config(disable=True)
    pipe(num_inference_steps=3)
    (span,) = traced.spans_as_dicts()
    assert span["name"] == "image_generation HandWritten"
    assert span["attributes"]["ai.diffusion.steps"] == 3
    assert span["attributes"]["ai.diffusion.request.steps"] == 3  # the signature's parameter
    assert span["attributes"]["ai.diffusion.images"] == 1


def test_an_overridden_progress_bar_is_timed_once(traced: Capture) -> None:
    class Described(HandWritten):
        def progress_bar(self, iterable: Any = None, total: Any = None) -> Any:
            bar = super().progress_bar(iterable=iterable, total=total)
            bar.set_description("denoising")
            return bar

    base = tiny_diffusion.ddpm()
    pipe = Described(unet=base.unet, scheduler=base.scheduler)
    pipe.set_progress_bar_config(disable=True)
    pipe(num_inference_steps=3)
    assert traced.spans_as_dicts()[0]["attributes"]["ai.diffusion.steps"] == 3


def test_a_video_pipeline_is_named_for_its_output(traced: Capture) -> None:
    class Clip(HandWritten):
        def __call__(self, num_frames: int = 4, num_inference_steps: int = 2) -> Any:
            out = super().__call__(num_inference_steps=num_inference_steps)
            return {"frames": [out.images] * num_frames}

    base = tiny_diffusion.ddpm()
    pipe = Clip(unet=base.unet, scheduler=base.scheduler)
    pipe.set_progress_bar_config(disable=True)
    pipe(num_frames=6)
    (span,) = traced.spans_as_dicts()
    assert span["name"] == "video_generation Clip"
    assert span["attributes"]["gen_ai.operation.name"] == "video_generation"
    assert span["attributes"]["ai.diffusion.frames"] == 6
    assert span["attributes"]["ai.diffusion.steps"] == 2


def test_a_pipeline_calling_another_is_one_span_with_all_steps(traced: Capture) -> None:
    class TwoPass(DiffusionPipeline):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def __call__(self, num_inference_steps: int = 2) -> Any:
            self.inner(num_inference_steps=num_inference_steps)
            return self.inner(num_inference_steps=num_inference_steps)

    TwoPass(tiny_diffusion.ddpm())(num_inference_steps=2)
    (span,) = traced.spans_as_dicts()
    assert span["name"] == "image_generation TwoPass"
    a = span["attributes"]
    assert a["ai.diffusion.steps"] == 4
    # Two loops of 2 steps, each opened 1 ms before its first step: 2 x 2 ms.
    assert a["ai.diffusion.denoise_ms"] == 4.0


def test_a_lazily_imported_pipeline_is_traced_without_importing_the_others(
        traced: Capture) -> None:
    lazy = "diffusers.pipelines.ddim.pipeline_ddim"
    assert lazy not in sys.modules, "another test imported DDIMPipeline: pick another one"
    loaded = {m for m in sys.modules if m.startswith("diffusers.pipelines.")}
    DiffusersInstrumentor().uninstrument()
    DiffusersInstrumentor().instrument()
    assert {m for m in sys.modules if m.startswith("diffusers.pipelines.")} == loaded
    import diffusers

    pipe = diffusers.DDIMPipeline(unet=tiny_diffusion.ddpm().unet,
                                  scheduler=diffusers.DDIMScheduler(num_train_timesteps=100))
    pipe.set_progress_bar_config(disable=True)
    pipe(num_inference_steps=3, output_type="np")
    assert lazy in sys.modules
    (span,) = traced.spans_as_dicts()
    assert span["name"] == "image_generation DDIMPipeline"
    assert span["attributes"]["ai.diffusion.steps"] == 3


def test_uninstrument_undoes_every_wrap(axonize_capture: Capture) -> None:
    inst = DiffusersInstrumentor()
    assert inst.instrument()

    class Later(DDPMPipeline):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return super().__call__(*args, **kwargs)

    later_call = Later.__dict__["__call__"]
    assert DDPMPipeline.__dict__["__call__"] is not ORIGINAL_DDPM_CALL
    inst.uninstrument()
    assert DDPMPipeline.__dict__["__call__"] is ORIGINAL_DDPM_CALL
    assert DiffusionPipeline.__dict__["progress_bar"] is ORIGINAL_PROGRESS_BAR
    assert Later.__dict__["__call__"] is later_call.__wrapped__
    assert "__init_subclass__" not in DiffusionPipeline.__dict__

    class AfterwardsToo(DDPMPipeline):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return super().__call__(*args, **kwargs)

    for cls in (DDPMPipeline, Later, AfterwardsToo):
        base = tiny_diffusion.ddpm()
        pipe = cls(unet=base.unet, scheduler=base.scheduler)
        pipe.set_progress_bar_config(disable=True)
        pipe(num_inference_steps=1)
    assert names(axonize_capture) == []


@pytest.mark.axonize_lenient
def test_the_plugins_own_failures_never_reach_the_user(traced: Capture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = tiny_diffusion.ddpm()
    expected = pipe(num_inference_steps=2, output_type="np",
                    generator=torch.Generator().manual_seed(3)).images
    traced.clear()

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in the plugin")

    monkeypatch.setattr(_steps.StepClock, "step", broken)  # fails at every step
    got = pipe(num_inference_steps=2, output_type="np",
               generator=torch.Generator().manual_seed(3)).images
    assert (got == expected).all()
    (span,) = traced.spans_as_dicts()
    assert span["status"]["code"] == "UNSET" and "ai.diffusion.steps" not in span["attributes"]
    monkeypatch.setattr(_recipe, "request_attributes", broken)  # fails before the span
    traced.clear()
    got = pipe(num_inference_steps=2, output_type="np",
               generator=torch.Generator().manual_seed(3)).images
    assert (got == expected).all()
    assert names(traced) == []
