"""``diffusers_step_overhead_us``: the time the Diffusers plugin adds to each denoising step.

A real ``DiffusionPipeline`` subclass runs a real denoising loop (``DDPMScheduler.step`` on a
1x1-convolution denoiser, driven through the pipeline's own progress bar, as ~290 of Diffusers'
pipelines are) so that a step costs a few hundred microseconds and the plugin's few microseconds
are not lost in the noise of a UNet.  What the plugin adds per step does not depend on the
model: it is the progress bar's time mark.  Each trial times (calling thread's CPU) one call of
``LO`` and one of ``HI`` steps with the plugin off, then on; the per-call cost cancels in the
difference, and the figure is the median over trials of
``((on_HI - on_LO) - (off_HI - off_LO)) / (HI - LO)``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.measure import Figure
from bench.sizes import Sizes

LO, HI = 10, 510


def _pipeline() -> Any:
    import torch
    from diffusers import DDPMScheduler, DiffusionPipeline

    class Loop(DiffusionPipeline):
        def __init__(self, denoiser: Any, scheduler: Any) -> None:
            super().__init__()
            self.register_modules(denoiser=denoiser, scheduler=scheduler)

        @torch.no_grad()
        def __call__(self, num_inference_steps: int = 10) -> Any:
            self.scheduler.set_timesteps(num_inference_steps)
            sample = torch.zeros(1, 1, 4, 4)
            with self.progress_bar(total=num_inference_steps) as bar:
                for t in self.scheduler.timesteps:
                    noise = self.denoiser(sample)
                    sample = self.scheduler.step(noise, t, sample).prev_sample
                    bar.update()
            return sample

    torch.manual_seed(0)
    pipe = Loop(torch.nn.Conv2d(1, 1, 1), DDPMScheduler(num_train_timesteps=1000))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def diffusers(sizes: Sizes) -> list[Figure]:
    import torch
    from axonize_diffusers import DiffusersInstrumentor

    import axonize

    torch.set_num_threads(1)
    pipe = _pipeline()
    inst = DiffusersInstrumentor()
    axonize.init(exporter="none", metrics=True)

    def cpu_ns(steps: int) -> int:
        t0 = time.thread_time_ns()
        pipe(num_inference_steps=steps)
        return time.thread_time_ns() - t0

    per_step: list[float] = []
    per_call: list[float] = []
    step_cost: list[float] = []
    try:
        inst.instrument()
        cpu_ns(HI)  # warm up both paths
        inst.uninstrument()
        cpu_ns(HI)
        for _ in range(sizes.diffusers_trials):
            inst.uninstrument()
            off_lo, off_hi = cpu_ns(LO), cpu_ns(HI)
            inst.instrument()
            on_lo, on_hi = cpu_ns(LO), cpu_ns(HI)
            per_step.append(((on_hi - on_lo) - (off_hi - off_lo)) / (HI - LO) / 1e3)
            per_call.append((on_lo - off_lo) / 1e3)
            step_cost.append((off_hi - off_lo) / (HI - LO) / 1e3)
    finally:
        inst.uninstrument()
        axonize.shutdown(10)
    overhead = statistics.median(per_step)
    step = statistics.median(step_cost)
    return [Figure("diffusers_step_overhead_us", "us", overhead, 0.0,
                   "the same loop uninstrumented, same process", float("nan"),
                   "<= 20 us per step",
                   note=f"DDPMScheduler step on a 1x1 conv through the progress bar: "
                        f"{step:,.0f} us per step plain; {statistics.median(per_call):,.0f} us "
                        f"more per {LO}-step call traced")]
