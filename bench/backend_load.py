"""The load the backend figures send: OTLP trace requests of LLM-serving spans."""

from __future__ import annotations

import random
import time


def realistic_requests(n_spans: int, per_request: int = 512) -> list[bytes]:
    """OTLP trace requests of LLM-serving spans: 8 attributes each, 4 spans per trace, a few
    models, services and routes, a thousand users, times spread over the last hour."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    rng = random.Random(7)
    models = ["llama-3-8b", "llama-3-70b", "mistral-7b", "qwen2-7b", "phi-3-mini"]
    routes = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
    now = time.time_ns()
    out = []
    made = 0
    trace_id = root_id = root_start = 0
    while made < n_spans:
        req = ts.ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(
            string_value=f"svc-{made // per_request % 4}"))
        ss = rs.scope_spans.add()
        for i in range(min(per_request, n_spans - made)):
            sp = ss.spans.add()
            trace = (made + i) // 4
            if (made + i) % 4 == 0:  # random ids, as real tracers make them
                trace_id, root_id = rng.getrandbits(128), rng.getrandbits(64) | 1
                sp.span_id = root_id.to_bytes(8, "big")
            else:
                sp.span_id = (rng.getrandbits(64) | 1).to_bytes(8, "big")
                sp.parent_span_id = root_id.to_bytes(8, "big")
            sp.trace_id = trace_id.to_bytes(16, "big")
            if (made + i) % 4 == 0:  # the root: a request some time in the last hour
                root_start = now - rng.randrange(3600 * 10**9)
                start, end = root_start, root_start + rng.randrange(10**8, 4 * 10**9)
            else:  # its children run inside it
                start = root_start + rng.randrange(10**6, 5 * 10**7)
                end = start + rng.randrange(10**6, 5 * 10**7)
            sp.start_time_unix_nano = start
            sp.end_time_unix_nano = end
            sp.name = "chat " + models[trace % 5]
            sp.kind = trace_pb2.Span.SPAN_KIND_CLIENT  # 3
            if rng.random() < 0.02:
                sp.status.code = trace_pb2.Status.STATUS_CODE_ERROR  # 2
                sp.status.message = "upstream timeout"
            for key, value in (
                    ("ai.model.name", models[trace % 5]),
                    ("ai.operation.name", "chat"),
                    ("ai.llm.tokens.input", rng.randrange(20, 4000)),
                    ("ai.llm.tokens.output", rng.randrange(1, 1000)),
                    ("ai.llm.ttft_ms", rng.uniform(20, 900)),
                    ("ai.llm.tokens_per_second", rng.uniform(20, 200)),
                    ("user.id", f"user-{rng.randrange(1000)}"),
                    ("http.route", routes[trace % 3])):
                av = common_pb2.AnyValue()
                if isinstance(value, int):
                    av.int_value = value
                elif isinstance(value, float):
                    av.double_value = value
                else:
                    av.string_value = value
                sp.attributes.add(key=key, value=av)
        made += len(ss.spans)
        out.append(req.SerializeToString())
    return out
