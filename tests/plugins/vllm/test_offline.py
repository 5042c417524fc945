"""The vLLM plugin on the offline ``LLM``, with the real CPU engine and a tiny random Llama.

One engine for the module (it takes seconds to start).  Timings are the engine's, so the capture
runs on the real clock: whole spans are asserted with ``ANY_NUMBER`` for the figures that vary,
and the times themselves from the exported OTLP spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

vllm = pytest.importorskip("vllm")

from axonize_testsupport.vllm_models import ENGINE_ARGS, build_vllm_llama  # noqa: E402
from axonize_vllm import VllmInstrumentor  # noqa: E402
from vllm import LLM, SamplingParams  # noqa: E402
from vllm.v1.metrics.stats import RequestStateStats  # noqa: E402

from axonize.testing import ANY_NUMBER, Capture, capture  # noqa: E402

# vLLM counts preemptions per request from 0.28 on.
PREEMPTIONS = {"ai.server.preemptions": 0} if hasattr(
    RequestStateStats(), "num_preemptions") else {}

pytestmark = [pytest.mark.axonize_capture(deterministic=False), pytest.mark.timeout(300)]

_METHODS = ("__init__", "generate", "chat", "beam_search", "embed", "encode")


def _defined(name: str) -> tuple[type, Any]:
    owner = next(c for c in LLM.__mro__ if name in c.__dict__)
    return owner, owner.__dict__[name]


ORIGINALS = {name: _defined(name) for name in _METHODS}


def _every_target() -> dict[tuple[str, str, str], Any]:
    """What each entry point the plugin wraps is, where its class defines it."""
    import importlib

    import axonize_vllm

    found = {}
    for module, cls_name, method, _ in axonize_vllm._targets():
        cls = getattr(importlib.import_module(module), cls_name)
        owner = next(c for c in cls.__mro__ if method in c.__dict__)
        found[(module, cls_name, method)] = owner.__dict__[method]
    return found


ALL_ORIGINALS = _every_target()
STARTUP: list[dict[str, Any]] = []  # the spans of the engine's start-up, from the fixture


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import torch

    torch.set_num_threads(1)
    model = build_vllm_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
    with capture(deterministic=False) as cap:  # the plugin starts no pipeline of its own
        assert VllmInstrumentor().instrument()
        engine = LLM(model=str(model), **ENGINE_ARGS)
        STARTUP.extend(cap.spans_as_dicts())
    yield engine
    VllmInstrumentor().uninstrument()
    del engine


def request_span(op: str, model: str, parent: int, span_id: int, tokens_in: int,
                 tokens_out: int, params: dict[str, Any], finish: str,
                 request_id: str) -> dict[str, Any]:
    return {
        "name": f"{op} {model}", "kind": "SERVER",
        "trace_id": 1, "span_id": span_id, "parent_span_id": parent,
        "attributes": {
            "ai.operation.name": op, "gen_ai.operation.name": op,
            "ai.model.name": model, "gen_ai.request.model": model,
            "ai.model.provider": "vllm", "gen_ai.provider.name": "vllm",
            "ai.llm.tokens.input": tokens_in, "gen_ai.usage.input_tokens": tokens_in,
            "ai.llm.tokens.output": tokens_out, "gen_ai.usage.output_tokens": tokens_out,
            "ai.llm.tokens.cached_input": 0, "gen_ai.usage.cache_read.input_tokens": 0,
            "ai.request.id": request_id,
            "ai.llm.finish_reasons": [finish], "gen_ai.response.finish_reasons": [finish],
            **params,
            # The engine's own figures.
            "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tpot_ms": ANY_NUMBER,
            "ai.llm.tokens_per_second": ANY_NUMBER, "ai.server.tokens_per_second": ANY_NUMBER,
            "ai.server.ttft_ms": ANY_NUMBER, "ai.server.queue_ms": ANY_NUMBER,
            "ai.server.prefill_ms": ANY_NUMBER, "ai.server.decode_ms": ANY_NUMBER,
            **PREEMPTIONS,
        },
        "status": {"code": "UNSET", "message": ""},
        "events": [],
    }


def sampling(max_tokens: int, temperature: float) -> dict[str, Any]:
    return {"ai.llm.request.max_tokens": max_tokens, "gen_ai.request.max_tokens": max_tokens,
            "ai.llm.request.temperature": temperature,
            "gen_ai.request.temperature": temperature,
            "ai.llm.request.top_p": 1.0, "gen_ai.request.top_p": 1.0,
            "ai.llm.request.choice_count": 1, "gen_ai.request.choice.count": 1}


def phases(parent: int, first_id: int) -> list[dict[str, Any]]:
    return [{"name": f"vllm.request.{phase}", "kind": "INTERNAL", "trace_id": 1,
             "span_id": first_id + i, "parent_span_id": parent, "attributes": {},
             "status": {"code": "UNSET", "message": ""}, "events": []}
            for i, phase in enumerate(("queued", "prefill", "decode"))]


def test_a_batch_gets_a_call_span_and_a_span_per_request_with_the_engines_figures(
        llm: Any, axonize_capture: Capture) -> None:
    model = llm.llm_engine.model_config.served_model_name
    prompts = ["hello world", "the model reads the prompt"]
    params = [SamplingParams(max_tokens=5, temperature=0, ignore_eos=True),
              SamplingParams(max_tokens=7, temperature=0, ignore_eos=True)]
    outputs = llm.generate(prompts, params, use_tqdm=False)

    assert [len(o.outputs[0].token_ids) for o in outputs] == [5, 7]
    assert [o.metrics for o in outputs] == [None, None]  # as vLLM's LLM returns them by default
    assert llm.llm_engine.logger_manager is None  # so no periodic stats lines either
    prompt_tokens = [len(o.prompt_token_ids) for o in outputs]
    assert prompt_tokens == [len(llm.get_tokenizer().encode(p)) for p in prompts]

    spans = axonize_capture.spans_as_dicts()
    call, first, second = (s for s in spans if s["name"] != "vllm.request.queued"
                           and not s["name"].startswith("vllm.request."))
    assert call == {
        "name": "vllm.LLM.generate", "kind": "INTERNAL",
        "trace_id": 1, "span_id": 1, "parent_span_id": None,
        "attributes": {
            "ai.operation.name": "text_completion", "gen_ai.operation.name": "text_completion",
            "ai.model.name": model, "gen_ai.request.model": model,
            "ai.model.provider": "vllm", "gen_ai.provider.name": "vllm",
            "ai.llm.batch_size": 2,
        },
        "status": {"code": "UNSET", "message": ""},
        "events": [],
    }
    assert first == request_span("text_completion", model, 1, first["span_id"],
                                 prompt_tokens[0], 5, sampling(5, 0), "length",
                                 outputs[0].request_id)
    assert second == request_span("text_completion", model, 1, second["span_id"],
                                  prompt_tokens[1], 7, sampling(7, 0), "length",
                                  outputs[1].request_id)
    kids = [s for s in spans if s["name"].startswith("vllm.request.")]
    assert sorted((s["parent_span_id"], s["name"]) for s in kids) == sorted(
        (p, f"vllm.request.{n}") for p in (first["span_id"], second["span_id"])
        for n in ("queued", "prefill", "decode"))


def test_the_engines_start_up_is_a_trace(llm: Any) -> None:
    names = {s["name"]: s for s in STARTUP}
    start = names["vllm.engine.start"]
    assert start["parent_span_id"] is None
    # The engine core runs in this process: each phase is a child of the start.
    for phase in ("vllm.engine.config", "vllm.engine.model_load", "vllm.engine.kv_cache"):
        assert (names[phase]["trace_id"], names[phase]["parent_span_id"]) == (
            start["trace_id"], start["span_id"]), phase
    assert {s["attributes"].get("ai.model.provider") for s in STARTUP} == {"vllm"}


def test_request_spans_carry_the_engines_timestamps(llm: Any, axonize_capture: Capture) -> None:
    llm.generate(["hello tracing"], SamplingParams(max_tokens=6, ignore_eos=True),
                 use_tqdm=False)
    by_name = {s.name: s for s in axonize_capture.spans()}
    call = by_name["vllm.LLM.generate"]
    request = next(s for s in axonize_capture.spans() if s.kind == 2)  # SERVER
    queued, prefill, decode = (by_name[f"vllm.request.{n}"]
                               for n in ("queued", "prefill", "decode"))
    # Nested in time: the call holds the request, which holds its phases, back to back.
    assert call.start_time_unix_nano <= request.start_time_unix_nano
    assert request.end_time_unix_nano <= call.end_time_unix_nano
    assert request.start_time_unix_nano <= queued.start_time_unix_nano
    assert queued.end_time_unix_nano == prefill.start_time_unix_nano
    assert prefill.end_time_unix_nano == decode.start_time_unix_nano
    assert decode.end_time_unix_nano == request.end_time_unix_nano
    a = {kv.key: kv.value for kv in request.attributes}
    prefill_ms = (prefill.end_time_unix_nano - prefill.start_time_unix_nano) / 1e6
    assert a["ai.server.prefill_ms"].double_value == pytest.approx(prefill_ms, abs=1e-3)
    decode_ms = (decode.end_time_unix_nano - decode.start_time_unix_nano) / 1e6
    assert a["ai.llm.tpot_ms"].double_value == pytest.approx(decode_ms / 5, rel=1e-3)
    # TTFT from arrival, on the engine's clocks (the span starts at the request's arrival).
    assert a["ai.llm.ttft_ms"].double_value == pytest.approx(
        a["ai.server.ttft_ms"].double_value, abs=1.0)


def test_chat_is_a_chat_span(llm: Any, axonize_capture: Capture) -> None:
    model = llm.llm_engine.model_config.served_model_name
    (out,) = llm.chat([{"role": "user", "content": "hello"}],
                      SamplingParams(max_tokens=4, temperature=0, ignore_eos=True),
                      use_tqdm=False)
    spans = axonize_capture.spans_as_dicts()
    assert [s["name"] for s in spans] == ["vllm.LLM.chat", f"chat {model}",
                                          "vllm.request.queued", "vllm.request.prefill",
                                          "vllm.request.decode"]
    assert spans[1] == request_span("chat", model, 1, 2, len(out.prompt_token_ids), 4,
                                    sampling(4, 0), "length", out.request_id)


def test_server_metrics_per_model(llm: Any, axonize_capture: Capture) -> None:
    model = llm.llm_engine.model_config.served_model_name
    llm.generate(["hello", "world", "tokens per second"],
                 SamplingParams(max_tokens=4, ignore_eos=True), use_tqdm=False)
    metrics = axonize_capture.metrics()
    for name in ("gen_ai.server.time_to_first_token", "gen_ai.server.time_per_output_token",
                 "gen_ai.server.request.duration", "ai.server.queue_time"):
        (point,) = metrics[name]
        assert point["count"] == 3, name
        assert point["attributes"]["gen_ai.request.model"] == model
        assert point["attributes"]["gen_ai.provider.name"] == "vllm"


def test_beam_search_is_one_call_span(llm: Any, axonize_capture: Capture) -> None:
    from vllm.sampling_params import BeamSearchParams

    (out,) = llm.beam_search([{"prompt": "hello world"}],
                             BeamSearchParams(beam_width=2, max_tokens=3))
    assert len(out.sequences) == 2
    (span,) = axonize_capture.spans_as_dicts()
    assert span["name"] == "vllm.LLM.beam_search"
    assert span["attributes"]["ai.llm.request.num_beams"] == 2
    assert span["attributes"]["ai.llm.batch_size"] == 1


def test_an_error_reaches_the_caller_unchanged_and_fails_the_span(
        llm: Any, axonize_capture: Capture) -> None:
    too_long = " ".join(["hello"] * 400)  # longer than max_model_len=256
    with pytest.raises(Exception) as raised:
        llm.generate([too_long], SamplingParams(max_tokens=4), use_tqdm=False)
    (span,) = axonize_capture.spans_as_dicts()
    assert span["name"] == "vllm.LLM.generate"
    assert span["status"]["code"] == "ERROR"
    (event,) = span["events"]
    exc_type = type(raised.value)
    assert event["attributes"]["exception.type"] == f"{exc_type.__module__}.{exc_type.__qualname__}"
    assert span["attributes"]["error.type"] == event["attributes"]["exception.type"]


def test_uninstrument_restores_the_originals(llm: Any, axonize_capture: Capture) -> None:
    VllmInstrumentor().uninstrument()
    try:
        assert {name: _defined(name) for name in _METHODS} == ORIGINALS
        assert _every_target() == ALL_ORIGINALS
        llm.generate(["hello"], SamplingParams(max_tokens=2), use_tqdm=False)
        assert axonize_capture.spans_as_dicts() == []
    finally:
        assert VllmInstrumentor().instrument()
    assert _defined("generate")[1] is not ORIGINALS["generate"][1]


@pytest.mark.axonize_lenient  # the failed patch is reported as a warning on purpose
def test_a_patch_that_fails_half_way_is_rolled_back_and_an_absent_one_skipped(
        llm: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import axonize_vllm

    inst = VllmInstrumentor()
    inst.uninstrument()
    real = axonize_vllm._targets()
    try:
        generate = next(t for t in real if t[2] == "generate")
        absent = ("vllm.no_such_module", "LLM", "generate", generate[3])
        unpatchable = ("builtins", "int", "__add__", generate[3])  # a built-in type refuses
        monkeypatch.setattr(axonize_vllm, "_targets", lambda: [generate, absent, unpatchable])
        with caplog.at_level("INFO", logger="axonize"):
            assert not inst.instrument()
        assert {name: _defined(name) for name in _METHODS} == ORIGINALS
        skipped = [r for r in caplog.records if "skips vllm.no_such_module" in r.getMessage()]
        assert len(skipped) == 1
    finally:
        monkeypatch.undo()
        assert inst.instrument()
