"""GenAI histograms aggregated from finished LLM spans, on the exporter thread only.

The standard instruments (``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``;
for spans of code that runs the model, ``gen_ai.server.time_to_first_token`` and
``gen_ai.server.time_per_output_token``, and for spans of kind SERVER
``gen_ai.server.request.duration`` and ``ai.server.queue_time`` (from ``ai.server.queue_ms``);
for streamed calls of a client (span kind CLIENT), with
the latest experimental conventions opted in, ``gen_ai.client.operation.time_to_first_chunk``
and ``gen_ai.client.operation.time_per_output_chunk``) with their recommended bucket boundaries,
plus ``ai.llm.tokens_per_second`` and the ``axonize.spans.dropped`` counter.  Cumulative
temporality, keyed by operation, model and provider (and ``error.type`` for failed calls).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping, Sequence
from typing import Any

from axonize_core import _record as R
from axonize_core import semconv as sc
from axonize_core._otlp.encode import resource_message
from axonize_core._record import Record
from axonize_core._state import ENRICH

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TPS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# name -> (unit, description, bucket bounds)
INSTRUMENTS: dict[str, tuple[str, str, Sequence[float]]] = {
    sc.METRIC_OPERATION_DURATION: ("s", "GenAI operation duration.", DURATION_BUCKETS),
    sc.METRIC_TOKEN_USAGE: ("{token}", "Number of input and output tokens used.", TOKEN_BUCKETS),
    sc.METRIC_TIME_TO_FIRST_TOKEN: ("s", "Time to generate the first token.", TTFT_BUCKETS),
    sc.METRIC_TIME_PER_OUTPUT_TOKEN: ("s", "Time per output token after the first.",
                                      TPOT_BUCKETS),
    sc.METRIC_SERVER_REQUEST_DURATION: ("s", "Time the model server took to serve the request.",
                                        DURATION_BUCKETS),
    sc.METRIC_SERVER_QUEUE_TIME: ("s", "Time a served request waited in the server's queue.",
                                  TTFT_BUCKETS),
    sc.METRIC_CLIENT_TIME_TO_FIRST_CHUNK: ("s", "Time to receive the first chunk of a streamed "
                                          "response.", TTFT_BUCKETS),
    sc.METRIC_CLIENT_TIME_PER_OUTPUT_CHUNK: ("s", "Time per output chunk after the first (each "
                                             "call's mean gap, weighted by its chunks).",
                                             TPOT_BUCKETS),
    sc.METRIC_TOKENS_PER_SECOND: ("{token}/s", "Output tokens per second of each call.",
                                  TPS_BUCKETS),
}

Key = tuple[tuple[str, Any], ...]
_CLIENT = 3  # SpanKind.CLIENT
_SERVER = 2  # SpanKind.SERVER


class Histogram:
    __slots__ = ("bounds", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    def record(self, value: float, n: int = 1) -> None:
        """Count ``n`` observations of ``value``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += n
        self.count += n
        self.sum += value * n
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value


class GenAiMetrics:
    """Aggregates LLM span records into histograms; encodes ``ExportMetricsServiceRequest``."""

    def __init__(self, scope_version: str = "") -> None:
        self.start_ns = time.time_ns()
        self.histograms: dict[tuple[str, Key], Histogram] = {}
        self.dropped_spans = 0
        self.gpu: Any = None  # a GpuProfiler: its latest samples become gauges
        self._scope_version = scope_version
        self._dirty = False

    def _hist(self, name: str, key: Key) -> Histogram:
        h = self.histograms.get((name, key))
        if h is None:
            h = self.histograms[(name, key)] = Histogram(INSTRUMENTS[name][2])
        return h

    def record_span(self, rec: Record) -> None:
        """Fold one finished LLM span record in."""
        llm = rec[R.LLM]
        key_items: list[tuple[str, Any]] = [(sc.GEN_AI_OPERATION_NAME, str(llm[R.OPERATION]))]
        if llm[R.MODEL] is not None:
            key_items.append((sc.GEN_AI_REQUEST_MODEL, str(llm[R.MODEL])))
        if llm[R.PROVIDER] is not None:
            key_items.append((sc.GEN_AI_PROVIDER_NAME, str(llm[R.PROVIDER])))
        if rec[R.STATUS_CODE] == 2:
            key_items.append(("error.type", R.error_type(rec[R.EVENTS])))
        key = tuple(key_items)
        start, end, first = rec[R.START_NS], rec[R.END_NS], llm[R.FIRST_TOKEN_NS]
        duration_s = max(0, end - start) / 1e9
        self._hist(sc.METRIC_OPERATION_DURATION, key).record(duration_s)
        if rec[R.KIND] == _SERVER:  # a request an engine served (vLLM's per-request spans)
            self._hist(sc.METRIC_SERVER_REQUEST_DURATION, key).record(duration_s)
            queue_ms = rec[R.ATTRIBUTES].get(sc.AI_SERVER_QUEUE_MS) if rec[R.ATTRIBUTES] else None
            if isinstance(queue_ms, (int, float)):
                self._hist(sc.METRIC_SERVER_QUEUE_TIME, key).record(queue_ms / 1000)
        if llm[R.TOKENS_INPUT] is not None:
            self._hist(sc.METRIC_TOKEN_USAGE, (*key, (sc.GEN_AI_TOKEN_TYPE, "input"))).record(
                llm[R.TOKENS_INPUT])
        out = R.output_tokens(llm)
        if out is not None:
            self._hist(sc.METRIC_TOKEN_USAGE, (*key, (sc.GEN_AI_TOKEN_TYPE, "output"))).record(out)
        if first and rec[R.KIND] == _CLIENT:
            # A client measures chunks arriving over the network, not the model's tokens.
            if ENRICH.genai_latest and llm[R.TOKEN_COUNT]:
                self._hist(sc.METRIC_CLIENT_TIME_TO_FIRST_CHUNK, key).record(
                    max(0, first - start) / 1e9)
                chunks = llm[R.TOKEN_COUNT]
                if chunks > 1:
                    self._hist(sc.METRIC_CLIENT_TIME_PER_OUTPUT_CHUNK, key).record(
                        max(0, end - first) / 1e9 / (chunks - 1), chunks - 1)
        elif first:
            self._hist(sc.METRIC_TIME_TO_FIRST_TOKEN, key).record(max(0, first - start) / 1e9)
            attrs = rec[R.ATTRIBUTES]
            tpot_ms = attrs.get(sc.AI_LLM_TPOT_MS) if attrs else None  # per step, if batched
            if isinstance(tpot_ms, (int, float)):
                self._hist(sc.METRIC_TIME_PER_OUTPUT_TOKEN, key).record(tpot_ms / 1000)
            elif out is not None and out > 1:
                self._hist(sc.METRIC_TIME_PER_OUTPUT_TOKEN, key).record(
                    max(0, end - first) / 1e9 / (out - 1))
        if out and duration_s > 0:
            self._hist(sc.METRIC_TOKENS_PER_SECOND, key).record(out / duration_s)
        self._dirty = True

    def set_dropped(self, total: int) -> None:
        if total != self.dropped_spans:
            self.dropped_spans = total
            self._dirty = True

    @property
    def has_data(self) -> bool:
        return bool(self.histograms) or self.dropped_spans > 0 or self.gpu is not None

    def encode(self, resource: Mapping[str, Any]) -> bytes:
        """Cumulative ``ExportMetricsServiceRequest`` bytes of everything recorded so far."""
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.metrics.v1 import metrics_pb2 as mp
        from opentelemetry.proto.resource.v1 import resource_pb2

        now = time.time_ns()
        req = ms.ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        rm.resource.CopyFrom(resource_pb2.Resource.FromString(resource_message(resource)))
        sm = rm.scope_metrics.add()
        sm.scope.name = "axonize"
        sm.scope.version = self._scope_version
        by_name: dict[str, Any] = {}
        for (name, key), h in sorted(self.histograms.items(), key=lambda kv: kv[0][0]):
            metric = by_name.get(name)
            if metric is None:
                unit, desc, _ = INSTRUMENTS[name]
                metric = by_name[name] = sm.metrics.add(name=name, unit=unit, description=desc)
                metric.histogram.aggregation_temporality = mp.AGGREGATION_TEMPORALITY_CUMULATIVE
            dp = metric.histogram.data_points.add(
                start_time_unix_nano=self.start_ns, time_unix_nano=now, count=h.count,
                sum=h.sum, bucket_counts=h.counts, explicit_bounds=[float(b) for b in h.bounds],
                min=h.min, max=h.max,
            )
            for k, v in key:
                dp.attributes.append(common_pb2.KeyValue(
                    key=k, value=common_pb2.AnyValue(string_value=str(v))))
        dropped = sm.metrics.add(name=sc.METRIC_DROPPED_SPANS, unit="{span}",
                                 description="Finished spans dropped because the buffer was full.")
        dropped.sum.aggregation_temporality = mp.AGGREGATION_TEMPORALITY_CUMULATIVE
        dropped.sum.is_monotonic = True
        dropped.sum.data_points.add(start_time_unix_nano=self.start_ns, time_unix_nano=now,
                                    as_int=self.dropped_spans)
        if self.gpu is not None:
            _gpu_gauges(sm, self.gpu.gauges(), self.gpu.runtime)
        self._dirty = False
        return bytes(req.SerializeToString())


_GPU_GAUGES = (
    (sc.METRIC_GPU_UTILIZATION, "%", "GPU utilization (absent on MIG instances).",
     "utilization_pct"),
    (sc.METRIC_GPU_MEMORY_USED, "By", "Device memory in use.", "memory_used_bytes"),
    (sc.METRIC_GPU_POWER, "W", "Board power (a MIG instance: its share).", "power_w"),
    (sc.METRIC_GPU_TEMPERATURE, "Cel", "GPU temperature.", "temperature_c"),
    (sc.METRIC_GPU_ENERGY, "J", "Energy counter of the device since the driver loaded.",
     "energy_j"),
)


def _gpu_gauges(sm: Any, samples: Sequence[Any], runtime: Mapping[str, str]) -> None:
    """One gauge per figure, one data point per device, identity as attributes."""
    from opentelemetry.proto.common.v1 import common_pb2

    if not samples:
        return

    def identity(gpu: Any) -> list[Any]:
        items = [("gpu.uuid", gpu.uuid), ("gpu.name", gpu.name), ("gpu.vendor", gpu.vendor),
                 ("gpu.compute_resource.id", gpu.compute_resource_id)]
        if gpu.profile:
            items.append(("gpu.mig.profile", gpu.profile))
        items.extend((f"gpu.{k}", v) for k, v in runtime.items())
        return [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=str(v)))
                for k, v in items]

    ids = [identity(gpu) for gpu, _ in samples]
    total = sm.metrics.add(name=sc.METRIC_GPU_MEMORY_TOTAL, unit="By",
                           description="Device memory size.")
    for (gpu, sample), attrs in zip(samples, ids, strict=True):
        dp = total.gauge.data_points.add(time_unix_nano=sample.time_ns,
                                         as_int=gpu.memory_total_bytes)
        dp.attributes.extend(attrs)
    for name, unit, desc, field in _GPU_GAUGES:
        metric = None
        for (_gpu, sample), attrs in zip(samples, ids, strict=True):
            value = getattr(sample, field)
            if value is None:
                continue
            if metric is None:
                metric = sm.metrics.add(name=name, unit=unit, description=desc)
            dp = metric.gauge.data_points.add(time_unix_nano=sample.time_ns, as_double=value)
            dp.attributes.extend(attrs)
