"""Owned, priced spans for the dashboard's cost-by-owner view, as the collector leaves them.

:func:`gateway_calls` is an OTLP request from a service ("gateway", hosted model
``gpt-4o-mini``) whose resources name the owning team (``owner.team``), run through the
collector's governance, cost and budget processors (one daily budget per team): the spans come
out with ``owner.*`` attributes, ``cost.total_usd`` and ``cost.budget.*`` marks.
"""

from __future__ import annotations

import time

#: (team, calls, project) of the gateway's resources.
TEAMS = (("support", 3, "helpdesk"), ("billing", 1, "invoices"))
#: The budget: 1000 input and 500 output tokens of gpt-4o-mini cost 0.00045 USD, so three calls
#: are over it (support) and one is under (billing).
BUDGET = {"name": "team-daily", "limit_usd": 0.001, "by": ["team"], "window": "day"}
ROOT = "gateway call"


def gateway_calls() -> tuple[int, bytes]:
    """(number of spans, serialized processed ``ExportTraceServiceRequest``)."""
    from axonize_collector import build_pipeline
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

    from axonize_testsupport.otlp_build import any_value

    req = ts.ExportTraceServiceRequest()
    now = time.time_ns() - 30 * 10**9
    n = 0
    for team, calls, project in TEAMS:
        rs = req.resource_spans.add()
        for k, v in (("service.name", "gateway"), ("owner.team", team),
                     ("owner.project", project)):
            rs.resource.attributes.add(key=k, value=any_value(v))
        spans = rs.scope_spans.add().spans
        for _ in range(calls):
            n += 1
            start = now + n * 10**8
            sp = spans.add(trace_id=(0xA0 + n).to_bytes(16, "big"), span_id=n.to_bytes(8, "big"),
                           name=ROOT, start_time_unix_nano=start,
                           end_time_unix_nano=start + 5 * 10**7)
            for k, v in (("gen_ai.operation.name", "chat"),
                         ("gen_ai.request.model", "gpt-4o-mini"),
                         ("gen_ai.usage.input_tokens", 1000),
                         ("gen_ai.usage.output_tokens", 500)):
                sp.attributes.add(key=k, value=any_value(v))
    pipeline = build_pipeline({"governance": {}, "budget": {"budgets": [dict(BUDGET)]}})
    return n, pipeline.run(req)[""].SerializeToString()
