"""Every piece of the SDK's mutable process state, in one module.

What the caller's hot path reads (:data:`PIPELINE`, :data:`RECORDING`, :data:`CURRENT`), what the
exporter thread adds to spans (:data:`ENRICH`), what ``init``/``shutdown`` own (:data:`RUNTIME`)
and what runs in a forked child (:data:`FORK_CALLBACKS`).  Other modules import these objects and
change their attributes; nothing rebinds them, so an imported name always sees the live state.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from axonize_core._config import Config
    from axonize_core._processor import BatchProcessor, ExportHook
    from axonize_core._span import Span


class NullSink:
    """Where spans go before ``init``: a buffer that never fills because nothing lands."""

    __slots__ = ("items", "wake_at")

    def __init__(self) -> None:
        self.items = _Discard()
        self.wake_at = 1

    def push(self, item: Any) -> None:
        pass

    def crowded(self) -> None:
        pass


class _Discard:
    __slots__ = ()

    def __len__(self) -> int:
        return 0

    def append(self, item: Any) -> None:
        pass


class Pipeline:
    """What the hot path reads: where finished spans go and how roots are sampled.

    ``items`` and ``wake_at`` mirror the sink's, so that a span's exit reads them directly;
    ``fast`` is "recording, and every root is sampled".
    """

    __slots__ = ("fast", "items", "sample_bound", "sink", "wake_at")

    def __init__(self) -> None:
        self.sample_bound = 1 << 64
        self.fast = False
        self.set_sink(NullSink())

    def set_sink(self, sink: Any) -> None:
        self.sink = sink
        self.items = sink.items
        self.wake_at = sink.wake_at


class RecordingSwitch:
    """Whether spans record (False before ``init``, after ``shutdown`` and when disabled)."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False


class Enrichment:
    """What the exporter thread adds to finished spans (set by ``init``).

    ``gpu``: the running GpuProfiler, if any; ``prices``: the PriceTable; ``genai_latest``:
    ``OTEL_SEMCONV_STABILITY_OPT_IN`` asks for the latest experimental GenAI conventions.
    """

    __slots__ = ("genai_latest", "gpu", "prices")

    def __init__(self) -> None:
        self.gpu: Any = None
        self.prices: Any = None
        self.genai_latest = False


class Runtime:
    """What ``init`` and ``shutdown`` own: the configuration, the processor, the hooks."""

    def __init__(self) -> None:
        self.config: Config | None = None
        self.processor: BatchProcessor | None = None
        self.atexit_registered = False
        self.init_hooks: list[Any] = []  # hook(config, processor) after each init
        self.export_hooks: list[ExportHook] = []


PIPELINE = Pipeline()
RECORDING = RecordingSwitch()
CURRENT: ContextVar[Span | None] = ContextVar("axonize_current_span", default=None)
ENRICH = Enrichment()
RUNTIME = Runtime()
#: Run in a forked child, after each processor has restarted itself.
FORK_CALLBACKS: list[Callable[[], None]] = []
