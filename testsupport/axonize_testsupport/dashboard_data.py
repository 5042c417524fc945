"""Data for the dashboard's browser tests and figures, sent to a backend over OTLP.

:func:`seed` traces a few requests with the SDK (two services, two models, errors, streamed
tokens, a simulated H100 and an A100 split into MIG instances, with their gauges, owners set
with ``axonize.owner``: team "search" for the chat requests, "research" for the batch jobs);
:func:`wide_trace` is one OTLP request holding a
trace of any number of spans.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

#: The simulated H100's uuid (the first GPU of ``gpu_simulate``).
H100 = "GPU-00000001-5a1e-4d0c-8a70-0a7000000001"


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed` sent: root span names per service, and the models."""

    chat: int  # traces of service "chat-api" (model llama), root "POST /v1/chat"
    batch: int  # traces of service "batch-worker" (model mistral), root "batch job"
    batch_errors: int  # of which failed


def seed(grpc_port: int, key: str, chat: int = 6, batch: int = 3) -> Seeded:
    """Trace ``chat`` chat requests (on the H100, ``cuda:0``) and ``batch`` batch jobs (the
    first two failing; on a MIG instance of the A100, ``cuda:1``) into the tenant of ``key``;
    the GPUs' gauges are exported too."""
    import axonize

    endpoint = f"http://127.0.0.1:{grpc_port}"
    common = {"endpoint": endpoint, "api_key": key, "flush_interval_ms": 50,
              "gpu_backend": "simulated", "gpu_simulate": "h100,a100:mig=3g.40gb",
              "gpu_sample_interval_ms": 20}
    axonize.init(service_name="chat-api", **common)
    for i in range(chat):
        with (
            axonize.owner(team="search", project="chat"),
            axonize.span("POST /v1/chat", {"http.route": "/v1/chat", "request.n": i}),
            axonize.llm_span(model="llama", provider="vllm") as s,
        ):
            s.set_gpus("cuda:0")
            s.set_tokens_input(20 + i)
            time.sleep(0.005)
            for _ in range(5):
                s.record_token()
                time.sleep(0.001)
    assert axonize.flush(20)
    axonize.shutdown(5)
    axonize.init(service_name="batch-worker", **common)
    errors = min(2, batch)
    for i in range(batch):
        try:
            with (
                axonize.owner(team="research", project="batch"),
                axonize.span("batch job", {"job.n": i}),
            ):
                with axonize.llm_span(model="mistral", provider="vllm") as s:
                    s.set_gpus("cuda:1")
                    s.set_tokens_input(100)
                    s.record_token(8)
                if i < errors:
                    raise ValueError("bad output")
        except ValueError:
            pass
    assert axonize.flush(20)
    axonize.shutdown(5)
    return Seeded(chat, batch, errors)


def wide_trace(n_spans: int, seed_: int = 1) -> tuple[str, bytes]:
    """(trace id, serialized ``ExportTraceServiceRequest``) of one trace of ``n_spans`` spans:
    a root, ~sqrt(n) steps under it, the rest spread under the steps; LLM spans carry TTFT."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.common.v1 import common_pb2

    rng = random.Random(seed_)
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name",
                               value=common_pb2.AnyValue(string_value="wide-svc"))
    spans = rs.scope_spans.add().spans
    now = time.time_ns() - 60 * 10**9
    total_ns = 10 * 10**9
    ids = iter(range(1, n_spans + 1))

    def add(name: str, parent: int, start: int, dur: int, llm: bool = False) -> int:
        sid = next(ids)
        sp = spans.add(trace_id=trace_id, span_id=sid.to_bytes(8, "big"), name=name,
                       start_time_unix_nano=start, end_time_unix_nano=start + dur)
        if parent:
            sp.parent_span_id = parent.to_bytes(8, "big")
        if llm:
            for k, v in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "llama")):
                sp.attributes.add(key=k, value=common_pb2.AnyValue(string_value=v))
            sp.attributes.add(key="ai.llm.ttft_ms",
                              value=common_pb2.AnyValue(double_value=dur / 1e6 / 5))
        return sid

    root = add("wide request", 0, now, total_ns)
    steps = max(int((n_spans - 1) ** 0.5), 1)
    per_step = total_ns // steps
    made = 1
    step_ids = []
    for i in range(min(steps, n_spans - made)):
        step_ids.append(add(f"step {i}", root, now + i * per_step, per_step))
        made += 1
    j = 0
    while made < n_spans and step_ids:
        step = j % len(step_ids)
        start = now + step * per_step + rng.randrange(per_step // 2)
        add(f"chat llama {j}", step_ids[step], start, rng.randrange(per_step // 50, per_step // 2),
            llm=True)
        made += 1
        j += 1
    return trace_id.hex(), req.SerializeToString()
