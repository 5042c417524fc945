"""The transformers plugin on real tiny random-weight models.

Span content is asserted as whole spans captured in memory (axonize.testing, deterministic ids and
clock); the launcher tests assert what arrives over real OTLP/gRPC.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from axonize_testsupport import tiny_models  # noqa: E402
from axonize_testsupport.otlp_sink import GrpcSink, attrs  # noqa: E402
from axonize_transformers import TransformersInstrumentor  # noqa: E402
from transformers.generation.logits_process import LogitsProcessor, LogitsProcessorList  # noqa: E402
from transformers.generation.utils import GenerationMixin  # noqa: E402

from axonize.testing import ANY_NUMBER, Capture  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
SUPPORT = ROOT / "testsupport"
ORIGINAL_GENERATE = GenerationMixin.__dict__["generate"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("models")
    return {"llama": tiny_models.build_llama(base / "tiny-llama"),
            "gpt2": tiny_models.build_gpt2(base / "tiny-gpt2")}


@pytest.fixture(scope="module")
def llama(model_dirs: dict[str, Path]) -> tuple[Any, Any]:
    return tiny_models.load(model_dirs["llama"])


@pytest.fixture
def hf(axonize_capture: Capture) -> Iterator[Capture]:
    assert TransformersInstrumentor().instrument()
    yield axonize_capture
    TransformersInstrumentor().uninstrument()


class ForceEosAt(LogitsProcessor):
    """Row ``row`` emits EOS at its ``step``-th new token; others never do (deterministic)."""

    def __init__(self, eos: int, prompt_len: int, row: int, step: int) -> None:
        self.eos, self.prompt_len, self.row, self.step = eos, prompt_len, row, step

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        new = input_ids.shape[1] - self.prompt_len
        scores[:, self.eos] = -float("inf")
        if new == self.step - 1:
            scores[self.row, :] = -float("inf")
            scores[self.row, self.eos] = 0
        return scores


def one_span(capture: Capture) -> dict[str, Any]:
    spans = capture.spans_as_dicts()
    assert len(spans) == 1, [s["name"] for s in spans]
    return spans[0]


def generate_span(model: str, tokens_in: int, tokens_out: int, attributes: dict[str, Any],
                  end_time: int | None = None) -> dict[str, Any]:
    """The whole span of one ``generate`` call; with the deterministic clock it starts at 1 s
    and ends at ``end_time``, with the real one the dict has no times."""
    span = {
        "name": f"generate {model}", "kind": "INTERNAL",
        "trace_id": 1, "span_id": 1, "parent_span_id": None,
        "attributes": {
            "ai.operation.name": "text_completion", "gen_ai.operation.name": "text_completion",
            "ai.model.name": model, "gen_ai.request.model": model,
            "ai.model.provider": "transformers", "gen_ai.provider.name": "transformers",
            "ai.llm.tokens.input": tokens_in, "gen_ai.usage.input_tokens": tokens_in,
            "ai.llm.tokens.output": tokens_out, "gen_ai.usage.output_tokens": tokens_out,
            **attributes,
        },
        "status": {"code": "UNSET", "message": ""},
        "events": [],
    }
    if end_time is not None:
        span.update(start_time=1_000_000_000, end_time=end_time)
    return span


def test_greedy_generate_is_one_whole_span(hf: Capture, llama: tuple[Any, Any]) -> None:
    model, tok = llama
    enc = tok("hello world", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    prompt = enc["input_ids"].shape[1]
    assert one_span(hf) == generate_span("tiny-llama", prompt, 6, {
        "ai.llm.batch_size": 1, "ai.llm.steps": 6,
        "ai.llm.request.max_tokens": 6, "gen_ai.request.max_tokens": 6,
        "ai.llm.request.do_sample": False,
        "ai.llm.finish_reasons": ["length"], "gen_ai.response.finish_reasons": ["length"],
        # The clock reads 1 ms later each time: start, first token, end.
        "ai.llm.ttft_ms": 1.0,
        "ai.llm.tokens_per_second": 3000.0,  # 6 tokens / 2 ms
        "ai.llm.tpot_ms": 0.2,  # (2 ms - 1 ms) / 5
    }, end_time=1_002_000_000)
    assert out.shape[1] == prompt + 6


@pytest.mark.axonize_capture(deterministic=False)  # the plugin reads the clock itself here
def test_batched_counts_exclude_padding_and_stop_at_eos(hf: Capture,
                                                        llama: tuple[Any, Any]) -> None:
    model, tok = llama
    enc = tok(["hello", "the model reads the prompt and writes"], return_tensors="pt",
              padding=True)
    width = enc["input_ids"].shape[1]
    real_tokens = int(enc["attention_mask"].sum())
    assert real_tokens < enc["input_ids"].numel()  # the short prompt is padded
    force = ForceEosAt(tok.eos_token_id, width, row=0, step=3)
    model.generate(**enc, max_new_tokens=8, do_sample=False,
                   logits_processor=LogitsProcessorList([force]))
    span = one_span(hf)
    assert span == generate_span("tiny-llama", real_tokens, 3 + 8, {  # row 0: 2 + EOS; row 1: 8
        "ai.llm.batch_size": 2, "ai.llm.steps": 8,
        "ai.llm.request.max_tokens": 8, "gen_ai.request.max_tokens": 8,
        "ai.llm.request.do_sample": False,
        "ai.llm.finish_reasons": ["eos", "length"],
        "gen_ai.response.finish_reasons": ["eos", "length"],
        "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tokens_per_second": ANY_NUMBER,
        "ai.llm.tpot_ms": ANY_NUMBER,
    })
    assert span["attributes"]["ai.llm.tpot_ms"] > 0


def test_sampling_records_its_parameters(hf: Capture, llama: tuple[Any, Any]) -> None:
    model, tok = llama
    enc = tok("time to first token", return_tensors="pt")
    torch.manual_seed(1)
    model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=True, temperature=0.7,
                   top_p=0.9, top_k=20)
    assert one_span(hf) == generate_span("tiny-llama", enc["input_ids"].shape[1], 5, {
        "ai.llm.batch_size": 1, "ai.llm.steps": 5,
        "ai.llm.request.max_tokens": 5, "gen_ai.request.max_tokens": 5,
        "ai.llm.request.do_sample": True,
        "ai.llm.request.temperature": 0.7, "gen_ai.request.temperature": 0.7,
        "ai.llm.request.top_p": 0.9, "gen_ai.request.top_p": 0.9,
        "ai.llm.request.top_k": 20, "gen_ai.request.top_k": 20,
        "ai.llm.finish_reasons": ["length"], "gen_ai.response.finish_reasons": ["length"],
        "ai.llm.ttft_ms": 1.0, "ai.llm.tokens_per_second": 2500.0, "ai.llm.tpot_ms": 0.25,
    }, end_time=1_002_000_000)


@pytest.mark.axonize_capture(deterministic=False)  # the plugin reads the clock itself here
def test_beam_search_counts_returned_sequences(hf: Capture, llama: tuple[Any, Any]) -> None:
    model, tok = llama
    enc = tok("hello world", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=4, min_new_tokens=4, num_beams=3,
                         num_return_sequences=2, do_sample=False)
    span = one_span(hf)
    assert out.shape[0] == 2
    assert span == generate_span("tiny-llama", enc["input_ids"].shape[1], 2 * 4, {
        "ai.llm.batch_size": 1, "ai.llm.steps": 4,
        "ai.llm.request.max_tokens": 4, "gen_ai.request.max_tokens": 4,
        "ai.llm.request.num_beams": 3, "ai.llm.request.do_sample": False,
        "ai.llm.finish_reasons": ["length", "length"],
        "gen_ai.response.finish_reasons": ["length", "length"],
        "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tokens_per_second": ANY_NUMBER,
        "ai.llm.tpot_ms": ANY_NUMBER,
    })
    assert span["attributes"]["ai.llm.ttft_ms"] > 0  # timed though beam search refuses streamers


@pytest.mark.axonize_capture(deterministic=False)
def test_user_streamer_still_receives_every_token(hf: Capture,
                                                  llama: tuple[Any, Any]) -> None:
    from transformers import TextIteratorStreamer

    model, tok = llama
    enc = tok("hello world", return_tensors="pt")
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.setdefault("out", model.generate(
        **enc, max_new_tokens=6, min_new_tokens=6, do_sample=False, streamer=streamer)))
    worker.start()
    streamed = "".join(streamer)
    worker.join()
    new = result["out"][0, enc["input_ids"].shape[1]:]
    assert streamed == tok.decode(new, skip_special_tokens=True)
    assert one_span(hf) == generate_span("tiny-llama", enc["input_ids"].shape[1], 6, {
        "ai.llm.batch_size": 1, "ai.llm.steps": 6, "ai.llm.stream": True,
        "ai.llm.request.max_tokens": 6, "gen_ai.request.max_tokens": 6,
        "ai.llm.request.do_sample": False,
        "ai.llm.finish_reasons": ["length"], "gen_ai.response.finish_reasons": ["length"],
        # Timed where the first token reaches the streamer (test_streamer_threads.py checks
        # when); how often the clock is read on the way differs between transformers versions.
        "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tokens_per_second": ANY_NUMBER,
        "ai.llm.tpot_ms": ANY_NUMBER,
    })


def test_pipeline_and_gpt2_family(hf: Capture, model_dirs: dict[str, Path]) -> None:
    from transformers import pipeline

    model, tok = tiny_models.load(model_dirs["gpt2"])
    generator = pipeline("text-generation", model=model, tokenizer=tok)
    generator("hello world", max_new_tokens=4, min_new_tokens=4, do_sample=False)
    prompt = len(tok("hello world")["input_ids"])
    assert one_span(hf) == generate_span("tiny-gpt2", prompt, 4, {
        "ai.llm.batch_size": 1, "ai.llm.steps": 4,
        "ai.llm.request.max_tokens": 4, "gen_ai.request.max_tokens": 4,
        "ai.llm.request.do_sample": False,
        "ai.llm.finish_reasons": ["length"], "gen_ai.response.finish_reasons": ["length"],
        "ai.llm.ttft_ms": 1.0, "ai.llm.tokens_per_second": 2000.0, "ai.llm.tpot_ms": 1 / 3,
    }, end_time=1_002_000_000)


def test_errors_mark_the_span_and_reach_the_caller_unchanged(
        hf: Capture, llama: tuple[Any, Any]) -> None:
    from transformers import TextStreamer

    model, tok = llama
    enc = tok("hello", return_tensors="pt")
    with pytest.raises(ValueError, match="beam") as caught:
        model.generate(**enc, max_new_tokens=3, num_beams=2, streamer=TextStreamer(tok))
    message = str(caught.value)
    default_do_sample = model.generation_config.do_sample  # False in 4.x, None (unset) in 5.x
    assert one_span(hf) == {
        "name": "generate tiny-llama", "kind": "INTERNAL",
        "trace_id": 1, "span_id": 1, "parent_span_id": None,
        "start_time": 1_000_000_000, "end_time": 1_002_000_000,
        "attributes": {
            "ai.operation.name": "text_completion", "gen_ai.operation.name": "text_completion",
            "ai.model.name": "tiny-llama", "gen_ai.request.model": "tiny-llama",
            "ai.model.provider": "transformers", "gen_ai.provider.name": "transformers",
            "ai.llm.tokens.input": enc["input_ids"].shape[1],
            "gen_ai.usage.input_tokens": enc["input_ids"].shape[1],
            "ai.llm.batch_size": 1, "ai.llm.stream": True,  # the user's streamer
            "ai.llm.request.max_tokens": 3, "gen_ai.request.max_tokens": 3,
            "ai.llm.request.num_beams": 2,
            **({} if default_do_sample is None else {"ai.llm.request.do_sample": False}),
            "error.type": "ValueError",
        },
        "status": {"code": "ERROR", "message": f"ValueError: {message}"},
        "events": [{"name": "exception", "time": 1_001_000_000, "attributes": {
            "exception.type": "ValueError", "exception.message": message,
            "exception.stacktrace": f"ValueError: {message}".splitlines()[-1]}}],
    }


@pytest.mark.axonize_capture(deterministic=False)  # the plugin reads the clock itself here
def test_assisted_generation_is_one_span(hf: Capture, llama: tuple[Any, Any],
                                         model_dirs: dict[str, Path]) -> None:
    model, tok = llama
    assistant, _ = tiny_models.load(model_dirs["llama"])
    enc = tok("hello world", return_tensors="pt")
    model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=False,
                   assistant_model=assistant)
    assert one_span(hf) == generate_span("tiny-llama", enc["input_ids"].shape[1], 5, {
        "ai.llm.batch_size": 1,
        "ai.llm.steps": ANY_NUMBER,  # how many draft tokens a step accepts is the library's
        "ai.llm.request.max_tokens": 5, "gen_ai.request.max_tokens": 5,
        "ai.llm.request.do_sample": False,
        "ai.llm.finish_reasons": ["length"], "gen_ai.response.finish_reasons": ["length"],
        "ai.llm.ttft_ms": ANY_NUMBER, "ai.llm.tokens_per_second": ANY_NUMBER,
        "ai.llm.tpot_ms": ANY_NUMBER,
    })


def test_uninstrument_restores_the_original_function(axonize_capture: Capture,
                                                     llama: tuple[Any, Any]) -> None:
    inst = TransformersInstrumentor()
    assert inst.instrument()
    assert GenerationMixin.__dict__["generate"] is not ORIGINAL_GENERATE
    inst.uninstrument()
    assert GenerationMixin.__dict__["generate"] is ORIGINAL_GENERATE
    model, tok = llama
    model.generate(**tok("hello", return_tensors="pt"), max_new_tokens=2)
    assert axonize_capture.spans() == []


SCRIPT = """
import sys
from axonize_testsupport import tiny_models
model, tok = tiny_models.load({model!r})
out = model.generate(**tok("hello world", return_tensors="pt"), max_new_tokens=3,
                     min_new_tokens=3, do_sample=False)
print("args", sys.argv[1:], "new tokens", out.shape[1] - 2)
sys.exit(3)
"""


def _run(cmd: list[str], sink: GrpcSink, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    full_env = {**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_SERVICE_NAME": "launched", "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=180)


def test_launcher_instruments_an_unchanged_script(sink: GrpcSink, tmp_path: Path,
                                                  model_dirs: dict[str, Path]) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(model=str(model_dirs["llama"]), tests=str(SUPPORT)))
    launcher = Path(sys.executable).with_name("axonize-instrument")
    proc = _run([str(launcher), "--service-name", "launched-svc", sys.executable, str(script),
                 "--port", "8000"], sink)
    assert proc.returncode == 3, proc.stderr  # the program's own exit code
    assert "args ['--port', '8000'] new tokens" in proc.stdout
    spans = sink.wait_for_spans(1)
    assert [s.name for s in spans] == ["generate tiny-llama"]
    resource = attrs(sink.resource_spans()[0].resource.attributes)
    assert resource["service.name"] == "launched-svc"


def test_opentelemetry_instrument_loads_the_plugin(sink: GrpcSink, tmp_path: Path,
                                                   model_dirs: dict[str, Path]) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(model=str(model_dirs["llama"]), tests=str(SUPPORT)))
    otel = Path(sys.executable).with_name("opentelemetry-instrument")
    proc = _run([str(otel), sys.executable, str(script)], sink)
    assert proc.returncode == 3, proc.stderr
    assert [s.name for s in sink.wait_for_spans(1)] == ["generate tiny-llama"]


def test_launcher_list_help_and_missing_command() -> None:
    launcher = str(Path(sys.executable).with_name("axonize-instrument"))
    listed = subprocess.run([launcher, "--list"], capture_output=True, text=True, timeout=60)
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("transformers"))
    assert transformers.__version__ in line and "yes" in line
    disabled = subprocess.run([launcher, "--disabled-plugins", "transformers", "--list"],
                              capture_output=True, text=True, timeout=60)
    assert "disabled by AXONIZE_DISABLED_PLUGINS" in disabled.stdout
    helped = subprocess.run([launcher, "--help"], capture_output=True, text=True, timeout=60)
    assert "--service-name" in helped.stdout and "AXONIZE_SERVICE_NAME" in helped.stdout
    missing = subprocess.run([launcher, "no-such-program-xyz"], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 127 and "command not found" in missing.stderr
    bare = subprocess.run([launcher], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "give the command to run" in bare.stderr


def test_script_runs_unchanged_when_the_plugin_is_disabled(
        sink: GrpcSink, tmp_path: Path, model_dirs: dict[str, Path]) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(model=str(model_dirs["llama"]), tests=str(SUPPORT)))
    launcher = str(Path(sys.executable).with_name("axonize-instrument"))
    proc = _run([launcher, sys.executable, str(script)], sink,
                AXONIZE_DISABLED_PLUGINS="transformers", AXONIZE_FLUSH_INTERVAL_MS="50")
    assert proc.returncode == 3
    assert sink.spans() == []



def test_gpu_attribution_follows_the_models_devices(llama: tuple[Any, Any]) -> None:
    from axonize_transformers._generate import _accelerators

    model, _ = llama
    assert _accelerators(model) == []  # on the CPU: no GPU is claimed
    model.hf_device_map = {"model.embed_tokens": 0, "model.layers.0": 0, "model.layers.1": 1,
                           "lm_head": "cpu"}
    try:
        assert _accelerators(model) == ["cuda:0", "cuda:1"]
    finally:
        del model.hf_device_map
