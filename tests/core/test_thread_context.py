"""Context follows the work into threads and executor tasks, and only as long as the work runs."""

from __future__ import annotations

import asyncio
import concurrent.futures.thread as _pool_module
import functools
import gc
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, by_name
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import axonize
from axonize_core import _threads

NO_PARENT = b""
_WORK_ITEM_CLASS = _threads._WORK_ITEM  # the class, whether or not the hook is in place


def spans_by_name(sink: GrpcSink, n: int) -> dict[str, Any]:
    axonize.flush(10)
    got = by_name(sink.wait_for_spans(n))
    assert len(got) == n, sorted(got)
    return got


def work(name: str) -> Callable[[], int]:
    def run() -> int:
        with axonize.span(name):
            return threading.get_ident()

    return run


def test_a_thread_started_under_a_span_is_its_child(traced: GrpcSink) -> None:
    with axonize.span("request"):
        t = threading.Thread(target=work("in thread"))
        t.start()
    t.join()
    lonely = threading.Thread(target=work("no span at start"))
    lonely.start()
    lonely.join()
    spans = spans_by_name(traced, 3)
    assert spans["in thread"].parent_span_id == spans["request"].span_id
    assert spans["in thread"].trace_id == spans["request"].trace_id
    assert spans["no span at start"].parent_span_id == NO_PARENT
    assert spans["no span at start"].trace_id != spans["request"].trace_id
    assert sorted(vars(t)) == sorted(vars(lonely))  # the finished thread holds no context


def test_a_thread_gets_its_arguments_unchanged_however_they_were_given(
        traced: GrpcSink) -> None:
    got: list[tuple[Any, ...]] = []

    def target(*args: Any, **kwargs: Any) -> None:
        with axonize.span(f"args {len(got)}"):
            got.append((args, kwargs))

    kwargs = {"span": "k", "fn": None}  # the names of the carrier's own parameters
    with axonize.span("request"):
        for args in ((1, "two"), [3, "four"], ()):
            t = threading.Thread(target=target, args=args, kwargs=kwargs)
            t.start()
            t.join()
    assert got == [((1, "two"), kwargs), ((3, "four"), kwargs), ((), kwargs)]
    spans = spans_by_name(traced, 4)
    for i in range(3):
        assert spans[f"args {i}"].parent_span_id == spans["request"].span_id


def test_a_thread_subclass_with_its_own_run_is_followed(traced: GrpcSink) -> None:
    class Worker(threading.Thread):
        def run(self) -> None:
            with axonize.span("subclass run"):
                pass

    with axonize.span("request"):
        w = Worker()
        w.start()
        w.join()
    spans = spans_by_name(traced, 2)
    assert spans["subclass run"].parent_span_id == spans["request"].span_id


def test_executor_fan_out_gives_each_task_the_request_as_parent(traced: GrpcSink) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool, axonize.span("request"):
        list(pool.map(lambda i: work(f"task {i}")(), range(6)))
    spans = spans_by_name(traced, 7)
    for i in range(6):
        assert spans[f"task {i}"].parent_span_id == spans["request"].span_id


def assert_pool_keeps_no_parent(pool_class: type[ThreadPoolExecutor], sink: GrpcSink) -> None:
    """A task under a span (the pool's thread starts then) is its child; a later task with no
    span current, on the very same thread, has no parent."""
    with pool_class(max_workers=1) as pool:
        with axonize.span("request"):  # the pool's thread starts here
            first = pool.submit(work("under request")).result()
        later = pool.submit(work("submitted with no span")).result()
        assert later == first
    spans = spans_by_name(sink, 3)
    assert spans["under request"].parent_span_id == spans["request"].span_id
    assert spans["submitted with no span"].parent_span_id == NO_PARENT


def test_a_reused_pool_thread_keeps_no_parent_after_its_task(traced: GrpcSink) -> None:
    assert_pool_keeps_no_parent(ThreadPoolExecutor, traced)


def test_a_pool_first_used_under_an_otel_span_keeps_no_parent_after_its_task(
        traced: GrpcSink, otel: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("app")
    with ThreadPoolExecutor(max_workers=1) as pool:
        with tracer.start_as_current_span("http request"):  # the pool's thread starts here
            pool.submit(work("under request")).result()
        pool.submit(work("submitted with no span")).result()
    spans = spans_by_name(traced, 2)
    assert spans["under request"].parent_span_id != NO_PARENT
    assert spans["submitted with no span"].parent_span_id == NO_PARENT


class _OwnWorkers(ThreadPoolExecutor):
    """A pool whose worker threads run a function of its own (as some libraries' pools do)."""

    def _adjust_thread_count(self) -> None:
        if len(self._threads) < self._max_workers:  # type: ignore[attr-defined]
            t = threading.Thread(target=_own_worker, args=(self._work_queue,), daemon=True)
            t.start()
            self._threads.add(t)  # type: ignore[attr-defined]


def _own_worker(work: queue.SimpleQueue[Any]) -> None:
    while (item := work.get()) is not None:
        item.run()
    work.put(None)  # wake the next worker to end too


def test_a_subclass_pool_with_its_own_workers_keeps_no_parent_after_its_task(
        traced: GrpcSink) -> None:
    assert_pool_keeps_no_parent(_OwnWorkers, traced)


def test_a_thread_with_no_target_starts_and_ends_quietly(
        traced: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    with axonize.span("request"):
        t = threading.Thread()
        t.start()
    t.join()
    assert failures == []
    assert not t.is_alive()


def test_run_in_executor_and_to_thread_are_followed(traced: GrpcSink) -> None:
    async def handler() -> None:
        loop = asyncio.get_running_loop()
        with axonize.span("request"):
            await loop.run_in_executor(None, work("run_in_executor"))
            await asyncio.to_thread(work("to_thread"))
        await loop.run_in_executor(None, work("after the request"))

    asyncio.run(handler())
    spans = spans_by_name(traced, 4)
    assert spans["run_in_executor"].parent_span_id == spans["request"].span_id
    assert spans["to_thread"].parent_span_id == spans["request"].span_id
    assert spans["after the request"].parent_span_id == NO_PARENT


def test_anyio_worker_threads_follow_through_contextvars(traced: GrpcSink) -> None:
    anyio = pytest.importorskip("anyio")

    async def handler() -> None:
        with axonize.span("request"):
            await anyio.to_thread.run_sync(work("anyio worker"))
        await anyio.to_thread.run_sync(work("anyio after"))

    anyio.run(handler)
    spans = spans_by_name(traced, 3)
    assert spans["anyio worker"].parent_span_id == spans["request"].span_id
    assert spans["anyio after"].parent_span_id == NO_PARENT


def hook_points() -> tuple[Any, ...]:
    """What the hooks replace: the function ``Thread.start`` calls to make the OS thread, the
    work item ``submit`` makes, ``submit`` itself and ThreadPoolExecutor's subclass hook."""
    assert _threads.SPAWN_NAME is not None
    return (getattr(threading, _threads.SPAWN_NAME), _pool_module._WorkItem,
            ThreadPoolExecutor.submit, ThreadPoolExecutor.__dict__.get("__init_subclass__"),
            _OwnWorkers.__dict__["_adjust_thread_count"])


def test_switched_off_threads_start_new_traces_as_before(sink: GrpcSink) -> None:
    original = hook_points()
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, thread_context=False)
    assert hook_points() == original
    with ThreadPoolExecutor(max_workers=1) as pool, axonize.span("request"):
        t = threading.Thread(target=work("thread"))
        t.start()
        t.join()
        pool.submit(work("task")).result()
    spans = spans_by_name(sink, 3)
    assert spans["thread"].parent_span_id == NO_PARENT
    assert spans["task"].parent_span_id == NO_PARENT


def test_switched_off_from_the_environment(sink: GrpcSink,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXONIZE_THREAD_CONTEXT", "false")
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    with axonize.span("request"):
        t = threading.Thread(target=work("thread"))
        t.start()
        t.join()
    assert spans_by_name(sink, 2)["thread"].parent_span_id == NO_PARENT


def test_shutdown_restores_threading(sink: GrpcSink) -> None:
    original = hook_points()
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    hooked = hook_points()
    assert hooked[0] is not original[0]  # the thread maker
    assert hooked[1] is not original[1]  # the work item
    assert hooked[2] is original[2]  # submit itself is left alone
    assert hooked[4] is not original[4]  # a subclass that starts its own threads is guarded
    axonize.shutdown(5)
    assert hook_points() == original


def test_a_tool_wrapping_over_the_hook_survives_switching_it_off_and_on(sink: GrpcSink) -> None:
    assert _threads.SPAWN_NAME is not None
    name = _threads.SPAWN_NAME
    original = getattr(threading, name)
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    ours = getattr(threading, name)
    wrapped: list[Any] = []
    started: list[threading.Thread] = []

    def other_tool(function: Any, *args: Any, **kwargs: Any) -> Any:  # another instrumentation
        wrapped.append(function)
        return ours(function, *args, **kwargs)

    setattr(threading, name, other_tool)
    try:
        for setting in (False, True):
            axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, thread_context=setting)
            with axonize.span(f"request {setting}"):
                t = threading.Thread(target=work(f"thread {setting}"))
                started.append(t)
                t.start()
                t.join()
    finally:
        setattr(threading, name, ours)
    axonize.flush(5)
    spans = by_name(sink.wait_for_spans(4))
    assert spans["thread False"].parent_span_id == NO_PARENT
    assert spans["thread True"].parent_span_id == spans["request True"].span_id
    assert all(t._bootstrap in wrapped for t in started)  # the other tool's wrapper kept working
    axonize.shutdown(5)
    assert getattr(threading, name) is original


def test_a_pool_subclass_defined_later_is_guarded_and_work_items_stay_subclassable(
        traced: GrpcSink) -> None:
    class LaterWorkers(_OwnWorkers):
        def _adjust_thread_count(self) -> None:
            super()._adjust_thread_count()

    class MyWorkItem(_pool_module._WorkItem):  # type: ignore[type-arg]
        pass  # as a library with its own executor might do, after Axonize is on

    assert issubclass(MyWorkItem, _WORK_ITEM_CLASS)
    assert_pool_keeps_no_parent(LaterWorkers, traced)


def test_where_work_items_cannot_be_replaced_submit_is_wrapped(
        sink: GrpcSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.14 makes ``_WorkItem`` from a resolved task: ``submit`` is wrapped instead."""
    monkeypatch.setattr(_threads, "ITEM_HOOK", False)
    original = hook_points()
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50)
    assert ThreadPoolExecutor.submit is not original[2]
    assert _pool_module._WorkItem is original[1]
    with ThreadPoolExecutor(max_workers=2) as pool, _OwnWorkers(max_workers=1) as own:
        with axonize.span("request"):
            list(pool.map(lambda i: work(f"task {i}")(), range(3)))
            own.submit(work("own under request")).result()
        own.submit(work("own with no span")).result()
        pool.submit(work("pool with no span")).result()
    spans = spans_by_name(sink, 7)
    for i in range(3):
        assert spans[f"task {i}"].parent_span_id == spans["request"].span_id
    assert spans["own under request"].parent_span_id == spans["request"].span_id
    assert spans["own with no span"].parent_span_id == NO_PARENT
    assert spans["pool with no span"].parent_span_id == NO_PARENT
    axonize.shutdown(5)
    assert hook_points() == original


@pytest.mark.axonize_lenient  # breaks the hook on purpose
def test_a_thread_whose_run_cannot_be_replaced_still_runs(traced: GrpcSink) -> None:
    ran = threading.Event()

    class Frozen(threading.Thread):
        @property
        def run(self) -> Callable[[], None]:  # type: ignore[override]
            return ran.set

    with axonize.span("request"):
        t = Frozen()
        t.start()  # run is a property here: the thread runs as it would without Axonize
        t.join()
    assert ran.is_set()


def test_a_thread_started_twice_fails_as_it_would_and_keeps_nothing(traced: GrpcSink) -> None:
    with axonize.span("request"):
        t = threading.Thread(target=work("once"))
        t.start()
        t.join()
        with pytest.raises(RuntimeError, match="only be started once"):
            t.start()
    plain = threading.Thread(target=work("plain"))
    plain.start()
    plain.join()
    assert sorted(vars(t)) == sorted(vars(plain))  # nothing left on the Thread object


def test_a_thread_follows_its_requests_sampling_decision(sink: GrpcSink) -> None:
    axonize.init(endpoint=sink.endpoint, flush_interval_ms=50, sample_rate=0.5)
    for i in range(40):
        with axonize.span(f"request {i}"):
            t = threading.Thread(target=work(f"thread {i}"))
            t.start()
            t.join()
    axonize.flush(5)
    spans = by_name(sink.spans())
    kept = [i for i in range(40) if f"request {i}" in spans]
    assert 0 < len(kept) < 40
    assert sorted(n for n in spans if n.startswith("thread")) == sorted(
        f"thread {i}" for i in kept)
    for i in kept:
        assert spans[f"thread {i}"].parent_span_id == spans[f"request {i}"].span_id


def test_context_and_attach_carry_it_by_hand(traced: GrpcSink) -> None:
    jobs: queue.Queue[tuple[axonize.TraceContext, str] | None] = queue.Queue()

    def long_lived_worker() -> None:  # started before any request: nothing to inherit
        while (job := jobs.get()) is not None:
            ctx, name = job
            with axonize.attach(ctx):
                work(name)()
            work(f"{name} after attach")()

    worker = threading.Thread(target=long_lived_worker)
    worker.start()
    with axonize.span("request"):
        ctx = axonize.context()
        jobs.put((ctx, "by hand"))
    jobs.put(None)
    worker.join()
    with ThreadPoolExecutor(1) as pool:  # after the request: no hook carries anything
        pool.submit(ctx.run, work("ctx.run")).result()
        pool.submit(ctx.wrap(work("ctx.wrap"))).result()
    spans = spans_by_name(traced, 5)
    request = spans["request"].span_id
    assert spans["by hand"].parent_span_id == request
    assert spans["by hand after attach"].parent_span_id == NO_PARENT
    assert spans["ctx.run"].parent_span_id == request
    assert spans["ctx.wrap"].parent_span_id == request


def test_attach_none_starts_a_thread_with_no_parent(traced: GrpcSink) -> None:
    with axonize.span("request"), axonize.attach(None):
        t = threading.Thread(target=work("detached"))
        t.start()
    t.join()
    spans = spans_by_name(traced, 2)
    assert spans["detached"].parent_span_id == NO_PARENT


@pytest.fixture
def otel() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider  # what set_tracer_provider does, but undoable
    yield exporter
    trace._TRACER_PROVIDER = previous
    provider.shutdown()


def test_otel_context_follows_too(traced: GrpcSink, otel: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("app")

    def otel_work() -> None:
        with tracer.start_as_current_span("otel in thread"):
            pass

    with tracer.start_as_current_span("http request") as server:
        t = threading.Thread(target=work("axonize in thread"))
        t.start()
        t.join()
    with axonize.span("request"), ThreadPoolExecutor(1) as pool:
        pool.submit(otel_work).result()
    axonize.flush(5)
    spans = by_name(traced.wait_for_spans(2))
    ax = spans["axonize in thread"]
    assert int.from_bytes(ax.parent_span_id, "big") == server.get_span_context().span_id
    (otel_child,) = [s for s in otel.get_finished_spans() if s.name == "otel in thread"]
    assert otel_child.parent is not None
    assert otel_child.parent.span_id == int.from_bytes(spans["request"].span_id, "big")


SCRIPT = """
import threading
import axonize

def work():
    with axonize.span("in thread"):
        pass

with axonize.span("request"):
    t = threading.Thread(target=work)
    t.start()
    t.join()
"""


@pytest.mark.parametrize("setting", [None, "false"])
def test_axonize_instrument_follows_threads_unless_switched_off(
        sink: GrpcSink, tmp_path: Path, setting: str | None) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    env = {**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
    if setting is not None:
        env["AXONIZE_THREAD_CONTEXT"] = setting
    launcher = Path(sys.executable).with_name("axonize-instrument")
    proc = subprocess.run([str(launcher), sys.executable, str(script)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    spans = by_name(sink.wait_for_spans(2))
    if setting is None:
        assert spans["in thread"].parent_span_id == spans["request"].span_id
    else:
        assert spans["in thread"].parent_span_id == NO_PARENT


def test_the_owner_follows_the_work_with_or_without_a_span(traced: GrpcSink) -> None:
    def model_call(name: str) -> Callable[[], None]:
        def run() -> None:
            with axonize.llm_span(name, model="m"):
                pass

        return run

    with ThreadPoolExecutor(max_workers=1) as pool:
        with axonize.owner(team="search"):
            with axonize.span("request"):
                t = threading.Thread(target=model_call("thread under span"))
                t.start()
                t.join()
            t = threading.Thread(target=model_call("thread, no span"))
            t.start()
            t.join()
            pool.submit(model_call("task, no span")).result()
            ctx = axonize.context()
        t = threading.Thread(target=ctx.wrap(model_call("by hand")))
        t.start()
        t.join()
        pool.submit(model_call("task after")).result()
    spans = spans_by_name(traced, 6)
    for name in ("thread under span", "thread, no span", "task, no span", "by hand"):
        attrs = {a.key: a.value.string_value for a in spans[name].attributes}
        assert attrs.get("owner.team") == "search", name
    assert "owner.team" not in {a.key for a in spans["task after"].attributes}


def test_the_thread_maker_is_found_behind_another_tools_thread_start() -> None:
    original = threading.Thread.start

    @functools.wraps(original)
    def sentry_like(self: threading.Thread) -> None:  # e.g. Sentry's threading integration
        original(self)

    def opaque(self: threading.Thread) -> None:  # a wrapper that hides what it wraps
        original(self)

    assert _threads.SPAWN_NAME is not None
    assert _threads.spawn_name(original) == _threads.SPAWN_NAME
    assert _threads.spawn_name(sentry_like) == _threads.SPAWN_NAME
    assert _threads.spawn_name(opaque) == _threads.SPAWN_NAME


def test_a_pool_worker_started_under_a_span_does_not_keep_it(traced: GrpcSink) -> None:
    here = sys._getframe()
    with ThreadPoolExecutor(max_workers=1) as pool:
        with axonize.span("request") as request:
            pool.submit(work("task")).result()  # the pool's thread starts here
        gc.collect()
        held_by = [r for r in gc.get_referrers(request) if r is not here]
        assert held_by == []  # the idle worker thread holds nothing of the request
        pool.submit(work("later")).result()
    spans = spans_by_name(traced, 3)
    assert spans["later"].parent_span_id == NO_PARENT


def test_work_items_are_still_work_items_while_the_hook_is_in(traced: GrpcSink) -> None:
    seen: list[Any] = []

    class Peeking(ThreadPoolExecutor):  # a bounded pool that looks at what waits in its queue
        def __init__(self, max_workers: int) -> None:
            super().__init__(max_workers)
            self._work_queue = queue.Queue(maxsize=8)  # type: ignore[assignment]

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            future = super().submit(fn, *args, **kwargs)
            seen.extend(i for i in list(self._work_queue.queue)  # type: ignore[attr-defined]
                        if isinstance(i, _pool_module._WorkItem))
            return future

    assert _pool_module._WorkItem[int] is not None  # as the class allows
    gate = threading.Event()
    with Peeking(max_workers=1) as pool, axonize.span("request"):
        pool.submit(gate.wait, 10)
        try:
            pool.submit(work("queued"))
        finally:
            gate.set()
    assert seen  # the queued task was seen as a _WorkItem
    assert spans_by_name(traced, 2)["queued"].parent_span_id != NO_PARENT


def test_attach_carries_the_owner_and_attach_none_clears_it(traced: GrpcSink) -> None:
    def model_call(name: str) -> None:
        with axonize.llm_span(name, model="m"):
            pass

    with axonize.owner(team="search"):
        ctx = axonize.context()
        with axonize.attach(None):  # e.g. a long-lived worker started lazily
            model_call("detached")
    t = threading.Thread(target=lambda: [axonize.attach(ctx).__enter__(), model_call("attached")])
    t.start()
    t.join()
    spans = spans_by_name(traced, 2)
    owners = {n: {a.key: a.value.string_value for a in s.attributes}.get("owner.team")
              for n, s in spans.items()}
    assert owners == {"detached": None, "attached": "search"}
