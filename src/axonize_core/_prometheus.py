"""Prometheus names and the text exposition (format 0.0.4, and OpenMetrics 1.0 when asked).

:data:`METRICS` is the one table of the Prometheus series Axonize exposes (the backend's
``/metrics`` and an instrumented process's exporter, :mod:`axonize_core._prom_exporter`): names
follow Prometheus conventions (prefix ``axonize_``, base units, ``_total`` on counters), each
beside the OTLP name it comes from; docs/semconv.md's Prometheus table is generated from it
(:func:`render_doc`).  :class:`Exposition` writes families of samples in either format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from axonize_core import semconv as sc

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


class PromMetric(NamedTuple):
    name: str  # without ``_total`` for counters (the OpenMetrics family name)
    type: str  # counter | gauge | histogram
    unit: str  # the base unit the name ends with ("" if none)
    help: str
    source: str  # the OTLP metric or span attribute it is computed from
    labels: str  # label names, comma-separated, as documented
    where: str  # "backend", "process" or "both"


_GENAI = "tenant, service, model, operation"
_PROC_GENAI = "operation, model, provider, error_type"
_GPU = "tenant, gpu_uuid, node"
_PROC_GPU = "gpu_uuid, gpu_name"

#: Every series Axonize exposes to Prometheus.
METRICS: tuple[PromMetric, ...] = (
    PromMetric("axonize_gen_ai_requests", "counter", "", "GenAI operations (LLM spans).",
               "spans with `gen_ai.operation.name`", _GENAI, "backend"),
    PromMetric("axonize_gen_ai_errors", "counter", "", "GenAI operations that failed.",
               "span status ERROR", _GENAI, "backend"),
    PromMetric("axonize_gen_ai_operation_duration_seconds", "histogram", "seconds",
               "GenAI operation duration.", sc.METRIC_OPERATION_DURATION,
               f"{_GENAI} (backend); {_PROC_GENAI} (process)", "both"),
    PromMetric("axonize_gen_ai_time_to_first_token_seconds", "histogram", "seconds",
               "Time to the first token.",
               f"{sc.METRIC_TIME_TO_FIRST_TOKEN}, `{sc.AI_LLM_TTFT_MS}`",
               f"{_GENAI} (backend); {_PROC_GENAI} (process)", "both"),
    PromMetric("axonize_gen_ai_time_per_output_token_seconds", "histogram", "seconds",
               "Time per output token after the first.",
               f"{sc.METRIC_TIME_PER_OUTPUT_TOKEN}, `{sc.AI_LLM_TPOT_MS}`",
               f"{_GENAI} (backend); {_PROC_GENAI} (process)", "both"),
    PromMetric("axonize_gen_ai_client_time_to_first_chunk_seconds", "histogram", "seconds",
               "Time to the first chunk of a streamed response (client side).",
               sc.METRIC_CLIENT_TIME_TO_FIRST_CHUNK, _PROC_GENAI, "process"),
    PromMetric("axonize_gen_ai_client_time_per_output_chunk_seconds", "histogram", "seconds",
               "Time per output chunk after the first (client side).",
               sc.METRIC_CLIENT_TIME_PER_OUTPUT_CHUNK, _PROC_GENAI, "process"),
    PromMetric("axonize_gen_ai_tokens", "counter", "",
               "Tokens used, by `token_type` (input, output).",
               f"`{sc.GEN_AI_USAGE_INPUT_TOKENS}`, `{sc.GEN_AI_USAGE_OUTPUT_TOKENS}`",
               f"{_GENAI}, token_type", "backend"),
    PromMetric("axonize_gen_ai_token_usage_tokens", "histogram", "tokens",
               "Tokens per operation, by `token_type`.", sc.METRIC_TOKEN_USAGE,
               f"{_PROC_GENAI}, token_type", "process"),
    PromMetric("axonize_gen_ai_output_tokens_per_second", "histogram", "",
               "Output tokens per second of each operation.", sc.METRIC_TOKENS_PER_SECOND,
               f"{_GENAI} (backend); {_PROC_GENAI} (process)", "both"),
    PromMetric("axonize_gen_ai_cost_usd", "counter", "", "Cost of the operations (USD).",
               f"`{sc.COST_TOTAL_USD}`", _GENAI, "backend"),
    PromMetric("axonize_gen_ai_gpu_seconds", "counter", "seconds",
               "GPU-seconds the operations used.", f"`{sc.COST_GPU_SECONDS}`", _GENAI,
               "backend"),
    PromMetric("axonize_spans_dropped", "counter", "", "Finished spans dropped (buffer full).",
               sc.METRIC_DROPPED_SPANS, "", "process"),
    PromMetric("axonize_gpu_utilization_ratio", "gauge", "ratio", "GPU utilization, 0 to 1.",
               sc.METRIC_GPU_UTILIZATION, f"{_GPU} (backend); {_PROC_GPU} (process)", "both"),
    PromMetric("axonize_gpu_memory_used_bytes", "gauge", "bytes", "Device memory in use.",
               sc.METRIC_GPU_MEMORY_USED, f"{_GPU} (backend); {_PROC_GPU} (process)", "both"),
    PromMetric("axonize_gpu_memory_total_bytes", "gauge", "bytes", "Device memory size.",
               sc.METRIC_GPU_MEMORY_TOTAL, f"{_GPU} (backend); {_PROC_GPU} (process)", "both"),
    PromMetric("axonize_gpu_power_watts", "gauge", "watts", "Board power.",
               sc.METRIC_GPU_POWER, f"{_GPU} (backend); {_PROC_GPU} (process)", "both"),
    PromMetric("axonize_gpu_temperature_celsius", "gauge", "celsius", "GPU temperature.",
               sc.METRIC_GPU_TEMPERATURE, f"{_GPU} (backend); {_PROC_GPU} (process)", "both"),
    PromMetric("axonize_gpu_energy_joules", "counter", "joules",
               "Energy counter of the device since the driver loaded.", sc.METRIC_GPU_ENERGY,
               f"{_GPU} (backend); {_PROC_GPU} (process)", "both"),
    PromMetric("axonize_server_ingest_requests", "counter", "",
               "OTLP export requests accepted, by `signal` (traces, metrics).", "", "signal",
               "backend"),
    PromMetric("axonize_server_ingest_spans", "counter", "", "Spans accepted (ingest rate: "
               "`rate()` of it).", "", "", "backend"),
    PromMetric("axonize_server_ingest_gpu_points", "counter", "", "GPU gauge points stored.",
               "", "", "backend"),
    PromMetric("axonize_server_refused_spans", "counter", "",
               "Spans refused at ingest for their time (OTLP partial success).", "", "",
               "backend"),
    PromMetric("axonize_server_ingest_log_backlog_bytes", "gauge", "bytes",
               "Acknowledged bytes in the ingest log not yet in the span store.", "", "",
               "backend"),
    PromMetric("axonize_server_ingest_quarantined_requests", "gauge", "",
               "Acknowledged requests the span store refused (in quarantine/).", "", "",
               "backend"),
    PromMetric("axonize_server_rejected_requests", "counter", "",
               "Requests refused, by `reason` (unauthorized, forbidden, bad_request, too_large, "
               "unsupported_media_type, overloaded, not_found, other).", "", "reason, transport",
               "backend"),
    PromMetric("axonize_server_http_request_duration_seconds", "histogram", "seconds",
               "HTTP API latency by route template.", "", "method, route, code", "backend"),
    PromMetric("axonize_metrics_label_overflow", "counter", "",
               "Observations whose label value was folded into `other` (label limit reached).",
               "", "tenant, label", "backend"),
)
BY_NAME = {m.name: m for m in METRICS}


def prometheus_markdown() -> str:
    """The Prometheus table of docs/semconv.md."""
    lines = [
        "| Prometheus name | Type | From (OTLP) | Labels | Exposed by | Meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in METRICS:
        name = f"{m.name}_total" if m.type == "counter" else m.name
        source = m.source if not m.source or m.source.startswith(("`", "span")) else (
            f"`{m.source}`")
        lines.append(f"| `{name}` | {m.type} | {source} | {m.labels} | {m.where} | {m.help} |")
    return "\n".join(lines) + "\n"


DOC_BEGIN = "<!-- BEGIN GENERATED: prometheus names (python -m axonize semconv --write) -->\n"
DOC_END = "<!-- END GENERATED PROMETHEUS -->\n"


def render_doc(existing: str) -> str:
    """docs/semconv.md with its Prometheus section regenerated (appended if absent)."""
    if DOC_BEGIN not in existing:
        section = "\n## Prometheus names\n\n" + DOC_BEGIN + prometheus_markdown() + DOC_END
        return existing.rstrip("\n") + "\n" + section
    head, _, rest = existing.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    return head + DOC_BEGIN + prometheus_markdown() + DOC_END + tail


# ------------------------------------------------------------------------- exposition
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) + ".0"
    return repr(value)


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Exposition:
    """Families of samples written in the text format 0.0.4 or OpenMetrics 1.0."""

    def __init__(self, openmetrics: bool = False) -> None:
        self.openmetrics = openmetrics
        self._lines: list[str] = []

    def _header(self, name: str, kind: str, help_text: str = "") -> None:
        m = BY_NAME.get(name)
        help_text = help_text or (m.help if m else "")
        family = name
        if kind == "counter" and not self.openmetrics:
            family = name + "_total"
        self._lines.append(f"# HELP {family} {_escape(help_text)}")
        self._lines.append(f"# TYPE {family} {kind}")
        if self.openmetrics and m is not None and m.unit:
            self._lines.append(f"# UNIT {family} {m.unit}")

    def scalar(self, name: str, kind: str, samples: Iterable[tuple[Labels, float]],
               help_text: str = "") -> None:
        """A counter or gauge family (``name`` without ``_total``); nothing if no samples."""
        rows = list(samples)
        if not rows:
            return
        self._header(name, kind, help_text)
        sample = name + "_total" if kind == "counter" else name
        self._lines.extend(f"{sample}{_labels(labels)} {format_value(v)}" for labels, v in rows)

    def histogram(self, name: str, bounds: Sequence[float],
                  samples: Iterable[tuple[Labels, Sequence[int], float]],
                  help_text: str = "") -> None:
        """A histogram family; each sample is (labels, per-bucket counts with the +Inf bucket
        last, sum).  Buckets are written cumulative; the count is their total."""
        rows = list(samples)
        if not rows:
            return
        self._header(name, "histogram", help_text)
        les = [f'le="{format_value(float(b))}"}} ' for b in bounds] + ['le="+Inf"} ']
        out = self._lines
        for labels, counts, total in rows:
            base = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            bucket = f"{name}_bucket{{{base}," if base else f"{name}_bucket{{"
            running = 0
            for le, c in zip(les, counts, strict=False):
                running += c
                out.append(f"{bucket}{le}{running}")
            tail = f"{{{base}}}" if base else ""
            out.append(f"{name}_sum{tail} {format_value(total)}")
            out.append(f"{name}_count{tail} {running}")

    def render(self) -> bytes:
        tail = ["# EOF"] if self.openmetrics else []
        return ("\n".join(self._lines + tail) + "\n").encode()

    @property
    def content_type(self) -> str:
        return OPENMETRICS_CONTENT_TYPE if self.openmetrics else TEXT_CONTENT_TYPE


def wants_openmetrics(accept: str) -> bool:
    """Whether an ``Accept`` header asks for OpenMetrics."""
    return "application/openmetrics-text" in accept.lower()
