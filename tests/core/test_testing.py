"""axonize.testing: the capture users test their instrumented code with, and strict mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from axonize_testsupport.otlp_sink import GrpcSink

import axonize
from axonize.testing import ANY_NUMBER, Capture, capture, strict_errors
from axonize_core import _span, add_export_hook, configured, remove_export_hook, streams
from axonize_core._log import STRICT
from axonize_core._testing import span_diff

ROOT = Path(__file__).resolve().parents[2]


def answer(question: str) -> str:
    """A user's instrumented function: a span around one streamed model call."""
    with (axonize.span("answer", {"question.length": len(question)}),
          axonize.llm_span(model="tiny", provider="local") as s):
        s.set_tokens_input(2)
        for _ in range(3):
            s.record_token()
    return "ok"


def test_whole_spans_with_deterministic_ids_and_clock(axonize_capture: Capture) -> None:
    answer("hi")
    assert axonize_capture.spans_as_dicts() == [
        {
            "name": "answer",
            "kind": "INTERNAL",
            "trace_id": 1, "span_id": 1, "parent_span_id": None,
            "start_time": 1_000_000_000, "end_time": 1_004_000_000,
            "attributes": {"question.length": 2},
            "status": {"code": "UNSET", "message": ""},
            "events": [],
        },
        {
            "name": "text_completion tiny",
            "kind": "INTERNAL",
            "trace_id": 1, "span_id": 2, "parent_span_id": 1,
            # clock readings: start, first token, end: one millisecond apart
            "start_time": 1_001_000_000, "end_time": 1_003_000_000,
            "attributes": {
                "ai.operation.name": "text_completion", "gen_ai.operation.name": "text_completion",
                "ai.model.name": "tiny", "gen_ai.request.model": "tiny",
                "ai.model.provider": "local", "gen_ai.provider.name": "local",
                "ai.llm.tokens.input": 2, "gen_ai.usage.input_tokens": 2,
                "ai.llm.tokens.output": 3, "gen_ai.usage.output_tokens": 3,
                "ai.llm.ttft_ms": 1.0,
                "ai.llm.tpot_ms": 0.5,  # (end - first token) / (3 - 1)
                "ai.llm.tokens_per_second": 1500.0,  # 3 tokens in 2 ms
            },
            "status": {"code": "UNSET", "message": ""},
            "events": [],
        },
    ]
    raw = axonize_capture.spans()[0]  # export order: the child ended first
    assert (raw.trace_id, raw.span_id) == ((1).to_bytes(16, "big"), (2).to_bytes(8, "big"))


def test_errors_show_as_status_error_type_and_a_stable_exception_event(
        axonize_capture: Capture) -> None:
    with pytest.raises(KeyError), axonize.span("lookup"):
        raise KeyError("missing")
    (span,) = axonize_capture.spans_as_dicts()
    assert span["status"] == {"code": "ERROR", "message": "KeyError: 'missing'"}
    assert span["attributes"] == {"error.type": "KeyError"}
    assert span["events"] == [{
        "name": "exception",
        "time": ANY_NUMBER,
        "attributes": {"exception.type": "KeyError", "exception.message": "'missing'",
                       "exception.stacktrace": "KeyError: 'missing'"},  # its last line
    }]


@pytest.mark.axonize_capture(deterministic=False, semconv="gen_ai", service_name="svc")
def test_the_marker_passes_settings_and_the_real_clock(axonize_capture: Capture) -> None:
    t0 = time.time_ns()
    answer("hello")
    spans = axonize_capture.spans_as_dicts()
    assert [s.keys() for s in spans] == [{  # no times without the deterministic clock
        "name", "kind", "trace_id", "span_id", "parent_span_id", "attributes", "status",
        "events"}] * 2
    assert spans[1]["attributes"] == {
        "gen_ai.operation.name": "text_completion", "gen_ai.request.model": "tiny",
        "gen_ai.provider.name": "local", "gen_ai.usage.input_tokens": 2,
        "gen_ai.usage.output_tokens": 3, "ai.llm.ttft_ms": ANY_NUMBER,
        "ai.llm.tpot_ms": ANY_NUMBER, "ai.llm.tokens_per_second": ANY_NUMBER,
    }
    assert axonize_capture.spans()[0].start_time_unix_nano >= t0
    assert axonize_capture.resource()["service.name"] == "svc"


def test_any_number_matches_numbers_only() -> None:
    assert [1, 2.5, -3] == [ANY_NUMBER] * 3  # noqa: SIM300 (the exported value on the left)
    assert ANY_NUMBER != "1" and ANY_NUMBER != True and ANY_NUMBER != None  # noqa: E711, E712
    assert repr({"x": ANY_NUMBER}) == "{'x': ANY_NUMBER}"


def test_a_failed_comparison_shows_only_what_differs() -> None:
    left = [{"name": "a", "attributes": {"x": 1, "t": 2.5}, "status": {"code": "UNSET"}}]
    right = [{"name": "a", "attributes": {"t": ANY_NUMBER, "x": 2}, "status": {"code": "UNSET"}}]
    assert span_diff(left, right) == [
        "span dicts differ (keys sorted; - left, + right):",
        "@@ -1 +1 @@",
        # ANY_NUMBER matched, so it shows the value it matched: only x differs.
        "-[{'attributes': {'t': 2.5, 'x': 1}, 'name': 'a', 'status': {'code': 'UNSET'}}]",
        "+[{'attributes': {'t': 2.5, 'x': 2}, 'name': 'a', 'status': {'code': 'UNSET'}}]",
    ]


def test_metrics_are_exposed(axonize_capture: Capture) -> None:
    answer("hi")
    metrics = axonize_capture.metrics()
    labels = {"gen_ai.operation.name": "text_completion", "gen_ai.request.model": "tiny",
              "gen_ai.provider.name": "local"}
    assert metrics["gen_ai.client.operation.duration"] == [
        {"attributes": labels, "count": 1, "sum": 0.002, "min": 0.002, "max": 0.002}]
    assert metrics["gen_ai.client.token.usage"] == [
        {"attributes": {**labels, "gen_ai.token.type": kind}, "count": 1, "sum": n, "min": n,
         "max": n} for kind, n in (("input", 2.0), ("output", 3.0))]
    assert metrics["axonize.spans.dropped"] == [{"attributes": {}, "value": 0}]


def test_clear_forgets_what_was_captured(axonize_capture: Capture) -> None:
    answer("hi")
    axonize_capture.clear()
    with axonize.span("after"):
        pass
    assert [s["name"] for s in axonize_capture.spans_as_dicts()] == ["after"]


def test_capture_sets_the_running_pipeline_aside_and_restores_it(traced: GrpcSink) -> None:
    with axonize.span("before"):
        pass
    with capture() as cap:
        with axonize.span("inside"):
            pass
        assert _span._time_ns is not time.time_ns
    assert (_span._time_ns, streams._time_ns) == (time.time_ns, time.time_ns)
    with axonize.span("after"):
        pass
    axonize.flush(5)
    assert [s["name"] for s in cap.spans_as_dicts()] == ["inside"]
    assert [s.name for s in traced.wait_for_spans(2)] == ["before", "after"]


def test_an_init_by_the_code_under_test_keeps_exporting_to_the_capture(
        axonize_capture: Capture) -> None:
    axonize.init(service_name="app", endpoint="http://127.0.0.1:9")  # nothing listens there
    with axonize.span("served"):
        pass
    assert [s["name"] for s in axonize_capture.spans_as_dicts()] == ["served"]
    assert axonize_capture.resource()["service.name"] == "app"


def test_capture_restores_an_sdk_that_was_not_running() -> None:
    before = configured()
    with capture() as cap, axonize.span("inside"):
        pass
    with axonize.span("after"):  # a no-op again
        pass
    assert [s["name"] for s in cap.spans_as_dicts()] == ["inside"]
    assert configured() is before
    assert axonize.stats() == {"exported_spans": 0, "dropped_spans": 0, "buffered_spans": 0}


# ----------------------------------------------------------------------------- strict mode
def _failing_counter(item: object) -> int:
    raise ZeroDivisionError("token counter bug")


def test_strict_mode_raises_swallowed_errors_on_the_callers_thread(
        axonize_capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(STRICT, "on", True)
    with axonize.llm_span(model="m") as s:
        stream = streams.meter_stream(iter(["a", "b"]), s, count=_failing_counter)
        with pytest.raises(ZeroDivisionError, match="token counter bug") as caught:
            next(stream)
    assert "raised by AXONIZE_STRICT" in "".join(getattr(caught.value, "__notes__", []))
    (recorded,) = strict_errors()
    assert "stream meter failed on an item" in recorded and "ZeroDivisionError" in recorded


@pytest.mark.axonize_lenient
def test_lenient_tests_see_production_behaviour(axonize_capture: Capture) -> None:
    with axonize.llm_span(model="m") as s:
        assert list(streams.meter_stream(iter(["a", "b"]), s, count=_failing_counter)) == [
            "a", "b"]
    assert strict_errors() == []


def test_errors_on_the_exporter_thread_are_recorded(axonize_capture: Capture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(STRICT, "on", True)

    def broken_hook(batch: object) -> None:
        raise RuntimeError("hook bug")

    add_export_hook(broken_hook)
    try:
        with axonize.span("x"):
            pass
        assert [s["name"] for s in axonize_capture.spans_as_dicts()] == ["x"]  # not raised here
    finally:
        remove_export_hook(broken_hook)
    (recorded,) = strict_errors()
    assert recorded.startswith("[axonize-exporter] axonize: export hook")
    assert "RuntimeError: hook bug" in recorded


def test_warnings_are_recorded_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(STRICT, "on", True)
    monkeypatch.setenv("AXONIZE_BATCH_SIZE", "many")
    with capture():
        pass
    (recorded,) = strict_errors()
    assert recorded.startswith("[MainThread] warning: axonize: ignoring AXONIZE_BATCH_SIZE='many'")


def test_without_strict_mode_warnings_still_reach_an_unconfigured_program() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    env.update(AXONIZE_BATCH_SIZE="many", PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", "import axonize; axonize.init(exporter='none')"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert "axonize: ignoring AXONIZE_BATCH_SIZE='many'" in done.stderr  # Python's last resort


INNER = """
import pytest
import axonize
from axonize_core import add_export_hook, remove_export_hook

@pytest.fixture
def broken():
    def hook(batch):
        raise RuntimeError("hook bug")
    add_export_hook(hook)
    yield
    remove_export_hook(hook)

def test_broken(axonize_capture, broken):
    with axonize.span("x"):
        pass
    axonize_capture.flush()

@pytest.mark.axonize_lenient
def test_broken_on_purpose(axonize_capture, broken):
    with axonize.span("x"):
        pass
    axonize_capture.flush()
"""


def test_the_plugin_fails_a_test_that_swallowed_an_error(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(STRICT, "on", True)
    pytester.makepyfile(INNER)
    result = pytester.runpytest_inprocess("-p", "axonize.testing", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*AXONIZE_STRICT: Axonize swallowed 1 error(s)*",
                                 "*[[]axonize-exporter[]] axonize: export hook*"])


def test_the_documented_example_runs(pytester: pytest.Pytester) -> None:
    doc = (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    example = next(b for b in blocks if "def test_" in b)
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest_inprocess("-p", "axonize.testing", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=example.count("def test_"))
