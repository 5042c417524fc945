"""``vllm serve`` (the OpenAI-compatible server) under ``axonize-instrument``: a chat request sent
with a ``traceparent`` header is traced as a child of the caller's span, with the endpoint and
the served model name.  The server takes about a minute to start here: one test, marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm")
httpx = pytest.importorskip("httpx")

from axonize_testsupport.otlp_sink import GrpcSink  # noqa: E402
from axonize_testsupport.ports import free_port  # noqa: E402
from axonize_testsupport.vllm_models import ENV, build_vllm_llama  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

TRACE_ID, PARENT_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


def _forwards_trace_headers_untraced() -> bool:
    """Whether this vLLM's server hands a request's trace headers to the engine with its own
    tracing off (0.32 does; 0.27 only with ``--otlp-traces-endpoint``)."""
    import importlib
    import inspect

    for name in ("vllm.entrypoints.serve.engine.serving",
                 "vllm.entrypoints.generate.base.serving"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for obj in vars(module).values():
            method = getattr(obj, "_get_trace_headers", None)
            if method is not None:
                return "is_tracing_enabled" not in inspect.getsource(method)
    return False


def _spans(path: Path) -> list[dict[str, Any]]:
    spans = []
    for line in path.read_text().splitlines():
        for rs in json.loads(line).get("resourceSpans", ()):
            for ss in rs["scopeSpans"]:
                spans.extend(ss["spans"])
    return spans


def test_a_served_chat_request_is_a_child_of_the_callers_traceparent(tmp_path: Path) -> None:
    model = build_vllm_llama(tmp_path / "tiny-llama")
    spans_file = tmp_path / "spans.jsonl"
    port = free_port()
    launcher = Path(sys.executable).parent / "axonize-instrument"
    env = {**os.environ, **ENV, "AXONIZE_EXPORTER": "file", "AXONIZE_FILE_PATH": str(spans_file)}
    vllm_tracing: list[str] = []
    vllm_sink = None
    if not _forwards_trace_headers_untraced():  # older vLLM: its own tracing must be on
        vllm_sink = GrpcSink()
        vllm_tracing = ["--otlp-traces-endpoint", vllm_sink.endpoint]
    server = subprocess.Popen(
        [str(launcher), "--service-name", "vllm-serve", sys.executable, "-m",
         "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port),
         "--dtype", "float32", "--enforce-eager", "--max-model-len", "256",
         "--max-num-seqs", "4", *vllm_tracing],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "vllm serve did not start"
            time.sleep(1)
        reply = httpx.post(f"{base}/v1/chat/completions", timeout=60,
                           headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
                           json={"model": "tiny", "max_tokens": 4, "temperature": 0,
                                 "messages": [{"role": "user", "content": "hello"}]})
        assert reply.status_code == 200, reply.text
        usage = reply.json()["usage"]
    finally:
        server.send_signal(signal.SIGTERM)  # axonize flushes its spans on the way out
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        if vllm_sink is not None:
            vllm_sink.stop()
    (request,) = [s for s in _spans(spans_file) if s.get("kind") == 2]  # SERVER
    assert (request["traceId"], request["parentSpanId"]) == (TRACE_ID, PARENT_ID)
    assert request["name"] == "chat tiny"
    a = {kv["key"]: next(iter(kv["value"].values())) for kv in request["attributes"]}
    assert a["ai.server.endpoint"] == "/v1/chat/completions"
    assert a["gen_ai.request.model"] == "tiny"
    assert int(a["gen_ai.usage.input_tokens"]) == usage["prompt_tokens"]
    assert int(a["gen_ai.usage.output_tokens"]) == usage["completion_tokens"] == 4
