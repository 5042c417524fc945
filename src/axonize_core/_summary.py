"""Readable renderings of OTLP/JSON spans: the console exporter's lines and ``axonize summary``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import IO, Any

_STATUS = {0: "", 1: "OK", 2: "ERROR"}
_KEY_FIGURES = (
    ("ai.llm.ttft_ms", "ttft {:.1f} ms"),
    ("ai.llm.tokens_per_second", "{:.1f} tok/s"),
    ("ai.llm.tokens.input", "in {}"),
    ("ai.llm.tokens.output", "out {}"),
    ("ai.diffusion.steps_per_second", "{:.1f} steps/s"),
    ("ai.diffusion.images_per_second", "{:.2f} img/s"),
)


def attr_value(v: dict[str, Any]) -> Any:
    """The Python value of an OTLP/JSON AnyValue."""
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [attr_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def span_attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: attr_value(a.get("value", {})) for a in span.get("attributes", [])}


def duration_ms(span: dict[str, Any]) -> float:
    return (int(span.get("endTimeUnixNano", 0)) - int(span.get("startTimeUnixNano", 0))) / 1e6


def format_span_line(span: dict[str, Any]) -> str:
    attrs = span_attributes(span)
    status = _STATUS.get(span.get("status", {}).get("code", 0), "")
    bits = [f"{span.get('name', '?'):<32}", f"{duration_ms(span):9.2f} ms"]
    for key, fmt in _KEY_FIGURES:
        if key in attrs:
            bits.append(fmt.format(attrs[key]))
    if status:
        bits.append(status)
    bits.append(f"trace={span.get('traceId', '')[:8]} span={span.get('spanId', '')[:8]}")
    return "[axonize] " + "  ".join(bits)


def iter_spans(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Spans of an OTLP JSON-lines file, each with its resource's ``service.name``."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        data = json.loads(line)
        for rs in data.get("resourceSpans", ()):
            service = span_attributes(rs.get("resource", {})).get("service.name", "")
            for ss in rs.get("scopeSpans", ()):
                for span in ss.get("spans", ()):
                    span["_service"] = service
                    yield span


def _walk(span: dict[str, Any], depth: int, children: dict[str, list[dict[str, Any]]],
          out: IO[str]) -> None:
    out.write("  " + "  " * depth + format_span_line(span)[len("[axonize] "):] + "\n")
    for child in children.get(span.get("spanId", ""), []):
        _walk(child, depth + 1, children, out)


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return 0.0
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


def _cell(values: list[float], width: int) -> str:
    """The median, or ``-`` where no span had the figure (no stream: no TTFT)."""
    return f"{_percentile(values, .5):>{width}.1f}" if values else f"{'-':>{width}}"


def summarize(lines: Iterable[str], out: IO[str], max_traces: int = 5) -> int:
    """Print trace trees and per-model figures of an OTLP JSON-lines file; returns span count."""
    spans = list(iter_spans(lines))
    if not spans:
        out.write("no spans found\n")
        return 0
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        by_trace[s.get("traceId", "")].append(s)
    out.write(f"{len(spans)} spans in {len(by_trace)} traces\n\n")
    for i, (tid, tspans) in enumerate(by_trace.items()):
        if i >= max_traces:
            out.write(f"... and {len(by_trace) - max_traces} more traces\n\n")
            break
        out.write(f"trace {tid}\n")
        ids = {s.get("spanId") for s in tspans}
        children: dict[str, list[dict[str, Any]]] = defaultdict(list)
        roots = []
        for s in sorted(tspans, key=lambda s: int(s.get("startTimeUnixNano", 0))):
            parent = s.get("parentSpanId", "")
            if parent and parent in ids:
                children[parent].append(s)
            else:
                roots.append(s)

        for r in roots:
            _walk(r, 0, children, out)
        out.write("\n")
    errors = [s for s in spans if s.get("status", {}).get("code") == 2]
    if errors:
        out.write(f"{len(errors)} error spans:\n")
        for s in errors[:max_traces]:
            out.write(f"  {s.get('name', '?')}: {s.get('status', {}).get('message', '')}  "
                      f"(trace {s.get('traceId', '')[:8]})\n")
        out.write("\n")
    models: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in spans:
        a = span_attributes(s)
        model = a.get("ai.model.name") or a.get("gen_ai.request.model")
        if not model:
            continue
        m = models[str(model)]
        m["latency"].append(duration_ms(s))
        m["errors"].append(1.0 if s.get("status", {}).get("code") == 2 else 0.0)
        if "ai.llm.ttft_ms" in a:
            m["ttft"].append(float(a["ai.llm.ttft_ms"]))
        if "ai.llm.tokens_per_second" in a:
            m["tps"].append(float(a["ai.llm.tokens_per_second"]))
        if "gpu.0.utilization.avg_pct" in a:
            m["gpu"].append(float(a["gpu.0.utilization.avg_pct"]))
        if "cost.total_usd" in a:
            m["cost"].append(float(a["cost.total_usd"]))
    if models:
        gpu = any(m["gpu"] or m["cost"] for m in models.values())
        extra = f"{'gpu %':>8}{'cost USD':>12}" if gpu else ""
        out.write(f"{'model':<24}{'calls':>7}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}"
                  f"{'ttft p50':>10}{'tok/s p50':>11}{extra}\n")
        for name, m in sorted(models.items()):
            cost = f"{sum(m['cost']):>12.2e}" if m["cost"] else f"{'-':>12}"
            extra = f"{_cell(m['gpu'], 8)}{cost}" if gpu else ""
            out.write(
                f"{name:<24}{len(m['latency']):>7}{int(sum(m['errors'])):>8}"
                f"{_percentile(m['latency'], .5):>10.1f}{_percentile(m['latency'], .95):>10.1f}"
                f"{_cell(m['ttft'], 10)}{_cell(m['tps'], 11)}{extra}\n")
    return len(spans)
