"""The Diffusers plugin on real tiny random-weight pipelines: span content and figures.

Whole spans are asserted with the deterministic clock of ``axonize.testing`` (every reading is
1 ms after the previous one), so each figure shows which clock readings it came from.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from axonize_testsupport import tiny_diffusion

from axonize.testing import ANY_NUMBER, Capture

DDPM_ATTRS = {
    "ai.operation.name": "image_generation", "gen_ai.operation.name": "image_generation",
    "ai.model.name": "DDPMPipeline", "gen_ai.request.model": "DDPMPipeline",
    "ai.model.provider": "diffusers", "gen_ai.provider.name": "diffusers",
    "ai.diffusion.pipeline": "DDPMPipeline", "ai.diffusion.scheduler": "DDPMScheduler",
    "ai.diffusion.attention": "AttnProcessor2_0", "ai.diffusion.device": "cpu",
    "ai.diffusion.dtype": "float32", "ai.diffusion.torch_compile": False,
}
SD_ATTRS = {
    "ai.operation.name": "image_generation", "gen_ai.operation.name": "image_generation",
    "ai.model.name": "StableDiffusionPipeline", "gen_ai.request.model": "StableDiffusionPipeline",
    "ai.model.provider": "diffusers", "gen_ai.provider.name": "diffusers",
    "ai.diffusion.pipeline": "StableDiffusionPipeline",
    "ai.diffusion.scheduler": "PNDMScheduler", "ai.diffusion.attention": "AttnProcessor2_0",
    "ai.diffusion.device": "cpu", "ai.diffusion.dtype": "float32",
    "ai.diffusion.torch_compile": False, "ai.diffusion.vae.tiling": False,
    "ai.diffusion.vae.slicing": False,
}


@pytest.fixture(scope="module")
def ddpm() -> Any:
    return tiny_diffusion.ddpm()


@pytest.fixture(scope="module")
def sd() -> Any:
    return tiny_diffusion.stable_diffusion()


def one_span(capture: Capture) -> dict[str, Any]:
    spans = capture.spans_as_dicts()
    assert len(spans) == 1, [s["name"] for s in spans]
    return spans[0]


def test_unconditional_pipeline_is_one_whole_span(traced: Capture, ddpm: Any) -> None:
    out = ddpm(batch_size=2, num_inference_steps=3)
    assert len(out.images) == 2 and out.images[0].size == (8, 8)
    assert one_span(traced) == {
        "name": "image_generation DDPMPipeline", "kind": "INTERNAL",
        "trace_id": 1, "span_id": 1, "parent_span_id": None,
        # Clock readings: start 1.000, loop start 1.001, steps end 1.002/1.003/1.004,
        # result read 1.005, end 1.006.
        "start_time": 1_000_000_000, "end_time": 1_006_000_000,
        "attributes": {
            **DDPM_ATTRS,
            "ai.diffusion.request.steps": 3, "ai.diffusion.batch_size": 2,
            "ai.diffusion.steps": 3, "ai.diffusion.time_to_first_step_ms": 2.0,
            "ai.diffusion.step_ms.avg": 1.0, "ai.diffusion.step_ms.p50": 1.0,
            "ai.diffusion.step_ms.max": 1.0, "ai.diffusion.denoise_ms": 3.0,
            "ai.diffusion.steps_per_second": 1000.0,
            "ai.diffusion.images": 2, "ai.diffusion.images_per_second": 400.0,  # 2 / 5 ms
            "ai.diffusion.height": 8, "ai.diffusion.width": 8,  # read from the images
        },
        "status": {"code": "UNSET", "message": ""},
        "events": [],
    }


def test_text_to_image_pipeline_times_each_stage(traced: Capture, sd: Any) -> None:
    out = sd("a photo of a cat", num_inference_steps=3, height=32, width=32,
             num_images_per_prompt=2, output_type="np")
    assert out.images.shape == (2, 32, 32, 3)
    assert one_span(traced) == {
        "name": "image_generation StableDiffusionPipeline", "kind": "INTERNAL",
        "trace_id": 1, "span_id": 1, "parent_span_id": None,
        # start 1.000; text encoder (prompt, then the unconditional prompt for guidance)
        # 1.001-1.002, 1.003-1.004; loop 1.005; steps 1.006-1.008; VAE decoder 1.009-1.010;
        # result 1.011; end 1.012.
        "start_time": 1_000_000_000, "end_time": 1_012_000_000,
        "attributes": {
            **SD_ATTRS,
            "ai.diffusion.request.steps": 3, "ai.diffusion.guidance_scale": 7.5,
            "ai.diffusion.height": 32, "ai.diffusion.width": 32,
            "ai.diffusion.batch_size": 1, "ai.diffusion.outputs_per_prompt": 2,
            "ai.diffusion.steps": 3, "ai.diffusion.time_to_first_step_ms": 6.0,
            "ai.diffusion.step_ms.avg": 1.0, "ai.diffusion.step_ms.p50": 1.0,
            "ai.diffusion.step_ms.max": 1.0, "ai.diffusion.steps_per_second": 1000.0,
            "ai.diffusion.text_encode_ms": 2.0, "ai.diffusion.denoise_ms": 3.0,
            "ai.diffusion.vae_decode_ms": 1.0,
            "ai.diffusion.images": 2, "ai.diffusion.images_per_second": 2 / 0.011,
        },
        "status": {"code": "UNSET", "message": ""},
        "events": [],
    }


@pytest.mark.axonize_capture(deterministic=False)
def test_figures_agree_with_the_wall_clock(traced: Capture, sd: Any) -> None:
    import time

    steps = 4
    t0 = time.time_ns()
    sd(["a red dog", "a blue cat"], num_inference_steps=steps, output_type="np")
    wall = time.time_ns() - t0
    (raw,) = traced.spans()
    duration = raw.end_time_unix_nano - raw.start_time_unix_nano
    a = one_span(traced)["attributes"]
    assert a["ai.diffusion.steps"] == steps and a["ai.diffusion.images"] == 2
    assert 0 < duration <= wall
    denoise_ns = a["ai.diffusion.denoise_ms"] * 1e6
    # The steps tile the loop: their mean times their count is the loop's time.
    assert a["ai.diffusion.step_ms.avg"] * steps * 1e6 == pytest.approx(denoise_ns, rel=1e-6)
    assert a["ai.diffusion.steps_per_second"] == pytest.approx(steps / (denoise_ns / 1e9))
    assert 0 < a["ai.diffusion.step_ms.p50"] <= a["ai.diffusion.step_ms.max"]
    assert a["ai.diffusion.step_ms.max"] * 1e6 <= denoise_ns
    stages = a["ai.diffusion.text_encode_ms"] + a["ai.diffusion.denoise_ms"] + a[
        "ai.diffusion.vae_decode_ms"]
    assert 0 < stages * 1e6 <= duration
    first = a["ai.diffusion.time_to_first_step_ms"] * 1e6
    assert a["ai.diffusion.text_encode_ms"] * 1e6 < first < duration
    assert a["ai.diffusion.images_per_second"] == pytest.approx(2 / (duration / 1e9), rel=0.2)


def test_user_step_callback_is_chained_and_output_untouched(traced: Capture, sd: Any) -> None:
    seen: list[tuple[int, int, tuple[int, ...]]] = []

    def on_step_end(pipe: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        seen.append((i, int(t), tuple(kw["latents"].shape)))
        return {"latents": kw["latents"] * 0.5}  # the pipeline must use what it returns

    def run() -> Any:
        return sd("a photo of a horse", num_inference_steps=3, output_type="np",
                  generator=torch.Generator().manual_seed(7), callback_on_step_end=on_step_end,
                  callback_on_step_end_tensor_inputs=["latents"]).images

    traced_out = run()
    timesteps = [int(t) for t in sd.scheduler.timesteps]
    assert seen == [(i, t, (1, 4, 8, 8)) for i, t in enumerate(timesteps)]
    from axonize_diffusers import DiffusersInstrumentor

    DiffusersInstrumentor().uninstrument()
    seen.clear()
    plain_out = run()
    # PNDM repeats its first timestep (a warm-up pass): one callback per model pass, while the
    # progress bar, and the span, count the 3 steps asked for.
    assert len(seen) == len(timesteps) == 4
    np.testing.assert_array_equal(traced_out, plain_out)
    assert one_span(traced)["attributes"]["ai.diffusion.steps"] == 3


def test_legacy_callback_and_progress_bar_still_work(traced: Capture, sd: Any) -> None:
    def run() -> tuple[list[int], str]:
        calls: list[int] = []
        stream = io.StringIO()
        sd.set_progress_bar_config(file=stream, disable=False, ascii=True, mininterval=0)
        try:
            with pytest.warns(FutureWarning):  # Diffusers deprecates `callback`, still calls it
                sd("a cat", num_inference_steps=4, output_type="np", callback_steps=2,
                   callback=lambda i, t, latents: calls.append(i))
        finally:
            sd.set_progress_bar_config(disable=True)
        return calls, stream.getvalue()

    traced_calls, traced_bar = run()
    from axonize_diffusers import DiffusersInstrumentor

    DiffusersInstrumentor().uninstrument()
    plain_calls, plain_bar = run()
    assert traced_calls == plain_calls == [2, 4]  # PNDM: timestep indices, warm-up included
    # The bar drew the same frames (the rates in them vary from run to run).
    assert frames(traced_bar) == frames(plain_bar) == [" 0/4 ", " 1/4 ", " 2/4 ", " 3/4 ",
                                                       " 4/4 ", " 4/4 "]
    assert "4/4" in traced_bar
    assert one_span(traced)["attributes"]["ai.diffusion.steps"] == 4


def frames(bar: str) -> list[str]:
    """The counters of each frame tqdm drew (``  50%|#####     | 2/4 [00:00<...]``)."""
    return [line.split("|")[2].split("[")[0] for line in bar.split("\r") if "|" in line]


class StepFailed(RuntimeError):
    pass


def test_exception_in_a_step_reaches_the_user_and_fails_the_span(traced: Capture,
                                                                 sd: Any) -> None:
    error = StepFailed("boom at step 1")

    def fail(pipe: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        if i == 2:  # PNDM's timesteps 0 and 1 make the first step; 2 is the second
            raise error
        return {}

    with pytest.raises(StepFailed) as caught:
        sd("a dog", num_inference_steps=3, callback_on_step_end=fail)
    assert caught.value is error
    span = one_span(traced)
    assert span["status"] == {"code": "ERROR", "message": "StepFailed: boom at step 1"}
    assert span["attributes"]["error.type"].endswith("StepFailed")
    assert span["attributes"]["ai.diffusion.steps"] == 1  # the step that completed
    assert [e["name"] for e in span["events"]] == ["exception"]
    assert "ai.diffusion.images" not in span["attributes"]


@pytest.mark.axonize_capture(capture_steps=True)
def test_step_events_only_when_asked(traced: Capture, ddpm: Any) -> None:
    ddpm(num_inference_steps=2)
    span = one_span(traced)
    assert span["events"] == [
        # Stamped just after the step's own mark (the loop opens at 1.001, step 0 ends at
        # 1.002, its event 1.003, step 1 ends at 1.004, its event 1.005).
        {"name": "ai.diffusion.step", "time": 1_003_000_000,
         "attributes": {"ai.diffusion.step.index": 0, "ai.diffusion.step.duration_ms": 1.0}},
        {"name": "ai.diffusion.step", "time": 1_005_000_000,
         "attributes": {"ai.diffusion.step.index": 1, "ai.diffusion.step.duration_ms": 2.0}},
    ]


def test_no_step_events_by_default(traced: Capture, ddpm: Any) -> None:
    ddpm(num_inference_steps=2)
    assert one_span(traced)["events"] == []


@pytest.mark.axonize_capture(deterministic=False)
def test_a_model_loaded_from_a_directory_is_named_after_it(traced: Capture, ddpm: Any,
                                                          tmp_path: Any) -> None:
    from diffusers import DDPMPipeline

    ddpm.save_pretrained(tmp_path / "tiny-ddpm")
    pipe = DDPMPipeline.from_pretrained(tmp_path / "tiny-ddpm")
    pipe.set_progress_bar_config(disable=True)
    pipe(num_inference_steps=2, output_type="np")
    span = one_span(traced)
    assert span["name"] == "image_generation tiny-ddpm"
    assert span["attributes"]["ai.model.name"] == "tiny-ddpm"
    assert span["attributes"]["ai.diffusion.images"] == 1
    assert span["attributes"]["ai.diffusion.steps_per_second"] == ANY_NUMBER


def test_settings_that_change_the_numbers_are_recorded(traced: Capture, sd: Any) -> None:
    sd.vae.enable_tiling()
    sd.vae.enable_slicing()
    try:
        sd("a cat", num_inference_steps=2, output_type="np")
    finally:
        sd.vae.disable_tiling()
        sd.vae.disable_slicing()
    a = one_span(traced)["attributes"]
    assert (a["ai.diffusion.vae.tiling"], a["ai.diffusion.vae.slicing"]) == (True, True)


@pytest.mark.axonize_capture(deterministic=False)
def test_a_second_order_scheduler_counts_steps_not_model_passes(traced: Capture) -> None:
    from diffusers import HeunDiscreteScheduler

    pipe = tiny_diffusion.stable_diffusion()
    pipe.scheduler = HeunDiscreteScheduler.from_config(pipe.scheduler.config)
    passes: list[int] = []
    handle = pipe.unet.register_forward_hook(lambda *a: passes.append(1))
    try:
        pipe("a cat", num_inference_steps=4, output_type="np")
    finally:
        handle.remove()
    assert len(passes) == 2 * 4 - 1  # Heun: two model passes per step but the first
    a = one_span(traced)["attributes"]
    assert (a["ai.diffusion.steps"], a["ai.diffusion.request.steps"]) == (4, 4)
    assert a["ai.diffusion.scheduler"] == "HeunDiscreteScheduler"


@pytest.mark.axonize_capture(deterministic=False)
def test_image_to_image_counts_the_steps_it_runs(traced: Capture, sd: Any) -> None:
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline(**sd.components)
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a cat", image=torch.rand(1, 3, 32, 32), num_inference_steps=6, strength=0.5)
    assert out.images[0].size == (32, 32)
    a = one_span(traced)["attributes"]
    # strength 0.5 skips half of the schedule: the span says what ran, and what was asked.
    assert (a["ai.diffusion.steps"], a["ai.diffusion.request.steps"]) == (3, 6)
    assert (a["ai.diffusion.height"], a["ai.diffusion.width"]) == (32, 32)
    assert a["ai.diffusion.pipeline"] == "StableDiffusionImg2ImgPipeline"
