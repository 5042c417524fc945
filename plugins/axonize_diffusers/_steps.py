"""Step timing through the pipeline's progress bar, and stage timing through module hooks.

Steps: most pipelines (~290 of ~320) drive their denoising loop through
``self.progress_bar``: either ``with self.progress_bar(total=n) as bar: ... bar.update()`` once
per step, or ``for t in self.progress_bar(timesteps)``.  The bar a traced call opens is handed
back inside a transparent proxy (the caller's tqdm, its display and its settings untouched) that
notes the time at each ``update`` and each iteration.  A step is the time from the previous
mark (or the bar's creation) to this one: the model passes of every guidance branch, the
scheduler update and the user's step callbacks, whatever the scheduler's order (a second-order
scheduler updates the bar once per step, not once per model pass).

Stages: the text encoders' and the VAE decoder's ``forward`` are timed by forward hooks added for
the call and removed after it (not on a module compiled with ``torch.compile``, whose guards a
new hook would invalidate); time they spend inside the denoising loop is left to the loop, so
text encoding + loop + VAE decoding never exceed the span.
"""

from __future__ import annotations

from typing import Any

import wrapt

from axonize_core.instrumentation import LlmSpan, log_internal_error, now_ns, semconv


class StepClock:
    """Marks of one call's denoising loops (one per progress bar opened during the call)."""

    __slots__ = ("count", "durations", "events", "first_step_ns", "last_ns", "loop_ns",
                 "span", "windows")

    def __init__(self, span: LlmSpan, events: bool) -> None:
        self.span = span
        self.events = events
        self.count = 0
        self.durations: list[int] = []
        self.first_step_ns = 0
        self.last_ns = 0
        self.loop_ns = 0  # start of the loop now open, 0 if none
        self.windows: list[tuple[int, int]] = []  # (start, last step end) of each loop

    def open(self) -> None:
        self.close()
        self.last_ns = self.loop_ns = now_ns()

    def close(self) -> None:
        if self.loop_ns and self.last_ns > self.loop_ns:
            self.windows.append((self.loop_ns, self.last_ns))
        self.loop_ns = 0

    def step(self, n: int) -> None:
        if n <= 0:
            return
        t = now_ns()
        if not self.loop_ns:  # a bar stepped after its loop was closed: a new window
            self.last_ns = self.loop_ns = t
            return
        self.durations.append(t - self.last_ns)
        self.last_ns = t
        self.count += n
        if not self.first_step_ns:
            self.first_step_ns = t
        if self.events:
            self.span.add_event(semconv.AI_DIFFUSION_STEP_EVENT, {
                semconv.AI_DIFFUSION_STEP_INDEX: self.count - 1,
                semconv.AI_DIFFUSION_STEP_DURATION_MS: self.durations[-1] / 1e6,
            })


class TimedBar(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The pipeline's own progress bar, with a time mark at each step."""

    def __init__(self, bar: Any, clock: StepClock) -> None:
        super().__init__(bar)
        self._self_clock = clock
        clock.open()

    def __enter__(self) -> TimedBar:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            self._self_clock.close()
        except Exception:
            log_internal_error("diffusers-step", "axonize: could not time a step")
        return self.__wrapped__.__exit__(*exc)

    def update(self, n: int | float | None = 1) -> Any:
        try:
            self._self_clock.step(int(n) if n else 0)
        except Exception:
            log_internal_error("diffusers-step", "axonize: could not time a step")
        return self.__wrapped__.update(n)

    def __iter__(self) -> Any:
        clock = self._self_clock
        for item in self.__wrapped__:
            yield item
            try:
                clock.step(1)
            except Exception:
                log_internal_error("diffusers-step", "axonize: could not time a step")
        try:
            clock.close()
        except Exception:
            log_internal_error("diffusers-step", "axonize: could not time a step")


def _compiled(module: Any) -> bool:
    return (type(module).__name__ == "OptimizedModule"
            or getattr(module, "_compiled_call_impl", None) is not None)


class StageTimer:
    """Forward hooks on the text encoders and the VAE decoder, for one call."""

    __slots__ = ("handles", "intervals", "starts")

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.intervals: dict[str, list[tuple[int, int]]] = {}
        self.starts: dict[int, int] = {}

    def watch(self, stage: str, module: Any) -> None:
        if module is None or _compiled(module) or not hasattr(module, "register_forward_hook"):
            return
        key = id(module)
        spans = self.intervals.setdefault(stage, [])
        starts = self.starts

        def pre(mod: Any, args: Any) -> None:
            starts[key] = now_ns()

        def post(mod: Any, args: Any, output: Any) -> None:
            start = starts.pop(key, 0)
            if start:
                spans.append((start, now_ns()))

        self.handles.append(module.register_forward_pre_hook(pre))
        self.handles.append(module.register_forward_hook(post))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def stage_ms(self, stage: str, loops: list[tuple[int, int]]) -> float | None:
        """Time in ``stage`` outside the denoising loops (None: the stage never ran)."""
        spans = self.intervals.get(stage)
        if not spans:
            return None
        total = 0
        for start, end in spans:
            if not any(start < w_end and end > w_start for w_start, w_end in loops):
                total += end - start
        return total / 1e6
