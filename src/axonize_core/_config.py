"""Configuration: keyword arguments of ``axonize.init`` over ``AXONIZE_*`` over ``OTEL_*``.

:data:`SETTINGS` is the one table of every setting; docs/configuration.md is generated from it.
A bad value in the environment is logged and replaced by the default (a launcher must never
crash the program it instruments); a bad keyword argument raises ``ValueError`` at ``init``.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from axonize_core._log import logger
from axonize_core.semconv import SEMCONV_MODES

EXPORTERS = ("otlp", "console", "file", "none")
PROTOCOLS = ("grpc", "http/protobuf")
COMPRESSIONS = ("gzip", "none")


class Setting(NamedTuple):
    name: str  # keyword argument of axonize.init
    env: str  # AXONIZE_* variable
    otel_env: str  # standard OTEL_* variable, "" if none
    default: str  # as documented
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("service_name", "AXONIZE_SERVICE_NAME", "OTEL_SERVICE_NAME", "unknown_service",
            "`service.name` of the resource."),
    Setting("environment", "AXONIZE_ENVIRONMENT", "", "",
            "`deployment.environment.name` of the resource (`prod`, `staging`, ...)."),
    Setting("endpoint", "AXONIZE_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://localhost:4317 (grpc), http://localhost:4318 (http)",
            "OTLP endpoint. `https://` turns TLS on. For http/protobuf, `/v1/traces` and "
            "`/v1/metrics` are appended."),
    Setting("protocol", "AXONIZE_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc",
            "`grpc` or `http/protobuf`."),
    Setting("headers", "AXONIZE_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS", "",
            "Extra request headers, `k1=v1,k2=v2` (values URL-decoded)."),
    Setting("api_key", "AXONIZE_API_KEY", "", "",
            "Sent as `authorization: Bearer <key>` (the Axonize backend's tenant key)."),
    Setting("exporter", "AXONIZE_EXPORTER", "OTEL_TRACES_EXPORTER", "otlp",
            "`otlp`, `console` (readable lines on stderr), `file` (OTLP JSON lines) or `none`."),
    Setting("file_path", "AXONIZE_FILE_PATH", "", "axonize-spans.jsonl",
            "Where the `file` exporter appends spans; metrics go to `<stem>.metrics.jsonl`."),
    Setting("compression", "AXONIZE_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip",
            "`gzip` or `none`."),
    Setting("insecure", "AXONIZE_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE", "from scheme",
            "Plain-text gRPC even without an `http://` scheme."),
    Setting("certificate", "AXONIZE_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE", "",
            "PEM file of trusted roots for TLS."),
    Setting("timeout_ms", "AXONIZE_TIMEOUT_MS", "OTEL_EXPORTER_OTLP_TIMEOUT", "10000",
            "Deadline of one export request."),
    Setting("max_retry_ms", "AXONIZE_MAX_RETRY_MS", "", "30000",
            "How long one batch is retried (exponential backoff with jitter) on retryable "
            "errors before it is dropped and counted."),
    Setting("batch_size", "AXONIZE_BATCH_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512",
            "Spans per export request; a full batch wakes the exporter early."),
    Setting("flush_interval_ms", "AXONIZE_FLUSH_INTERVAL_MS", "OTEL_BSP_SCHEDULE_DELAY",
            "5000", "How often the exporter drains the buffer."),
    Setting("max_queue_size", "AXONIZE_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE", "131072",
            "Finished spans held while waiting for export; beyond it the oldest are dropped "
            "and counted in `axonize.spans.dropped`."),
    Setting("max_queue_bytes", "AXONIZE_MAX_QUEUE_BYTES", "", "58720256",
            "Memory the buffered spans may hold (56 MiB: with the batch in flight and the "
            "allocator's slack, a process stays under 64 MB), as estimated from the spans the "
            "exporter sees; beyond it the oldest are dropped and counted, as past "
            "`max_queue_size`."),
    Setting("metrics_interval_ms", "AXONIZE_METRICS_INTERVAL_MS", "OTEL_METRIC_EXPORT_INTERVAL",
            "60000", "How often the GenAI histograms are exported (also on flush and shutdown)."),
    Setting("metrics", "AXONIZE_METRICS", "", "true",
            "Aggregate and export the GenAI metrics."),
    Setting("sample_rate", "AXONIZE_SAMPLE_RATE", "OTEL_TRACES_SAMPLER_ARG", "1.0",
            "Head sampling of root spans (children follow their parent)."),
    Setting("semconv", "AXONIZE_SEMCONV", "", "both",
            "Attribute names exported: `axonize` (`ai.*`), `gen_ai` (standard names) or `both`."),
    Setting("disabled", "AXONIZE_DISABLED", "OTEL_SDK_DISABLED", "false",
            "Turn every span into a no-op."),
    Setting("gpu_profiling", "AXONIZE_GPU_PROFILING", "", "true",
            "Sample GPUs and attribute them to spans that call `set_gpus`."),
    Setting("gpu_backend", "AXONIZE_GPU_BACKEND", "", "auto",
            "`auto` (NVIDIA through NVML, else Apple Silicon, else none), `nvml`, `apple`, "
            "`simulated` or `none`."),
    Setting("gpu_sample_interval_ms", "AXONIZE_GPU_SAMPLE_INTERVAL_MS", "", "100",
            "How often the GPU profiler reads every device."),
    Setting("gpu_simulate", "AXONIZE_GPU_SIMULATE", "", "h100,a100:mig=1g.10gb+2g.20gb+3g.40gb",
            "Topology of the `simulated` backend: devices `[N x]MODEL[:mig=P+P...]` "
            "(models h200, h100, a100, a100-40gb, l40s, l4, a10g, t4)."),
    Setting("price_file", "AXONIZE_PRICE_FILE", "", "",
            "JSON file of GPU-hour, energy and token prices over the shipped defaults "
            "(see `axonize_core.cost`)."),
    Setting("energy_usd_per_kwh", "AXONIZE_ENERGY_USD_PER_KWH", "", "0.15",
            "Electricity price for `cost.energy_usd` (over the price file's)."),
    Setting("plugins", "AXONIZE_PLUGINS", "", "all installed",
            "Comma-separated plugins to activate (`axonize-instrument --list` shows them)."),
    Setting("disabled_plugins", "AXONIZE_DISABLED_PLUGINS", "", "",
            "Comma-separated plugins never to activate (`*` for all)."),
    Setting("capture_content", "AXONIZE_CAPTURE_CONTENT",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false",
            "Record prompts and outputs (plugins), truncated to `max_content_length`."),
    Setting("max_content_length", "AXONIZE_MAX_CONTENT_LENGTH", "", "4096",
            "Characters of captured content kept per attribute."),
    Setting("capture_steps", "AXONIZE_CAPTURE_STEPS", "", "false",
            "Add a span event per denoising step (Diffusers plugin): index and duration."),
    Setting("shutdown_timeout_ms", "AXONIZE_SHUTDOWN_TIMEOUT_MS", "", "5000",
            "Deadline of the flush at interpreter exit."),
    Setting("flush_on_sigterm", "AXONIZE_FLUSH_ON_SIGTERM", "", "true",
            "On SIGTERM with no handler of the program's own, flush (within "
            "`shutdown_timeout_ms`) before the process ends as it would have."),
    Setting("thread_context", "AXONIZE_THREAD_CONTEXT", "", "true",
            "A thread started, or a `ThreadPoolExecutor` task submitted, while a span is current "
            "runs with that span as its parent ([threads.md](threads.md)); `false` leaves "
            "`threading` and `concurrent.futures` untouched."),
    Setting("resource_attributes", "AXONIZE_RESOURCE_ATTRIBUTES", "OTEL_RESOURCE_ATTRIBUTES", "",
            "Extra resource attributes, `k1=v1,k2=v2`."),
    Setting("debug", "AXONIZE_DEBUG", "", "false",
            "Log Axonize's own swallowed errors on stderr at debug level."),
    Setting("genai_conventions", "AXONIZE_GENAI_CONVENTIONS", "OTEL_SEMCONV_STABILITY_OPT_IN",
            "default", "`default`, or `latest_experimental` (also set by "
            "`OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`): adds the names the "
            "GenAI conventions introduced in v1.41, the client-side streaming metrics "
            "`gen_ai.client.operation.time_to_first_chunk` / `.time_per_output_chunk` and the "
            "span attribute `gen_ai.response.time_to_first_chunk` (docs/semconv.md)."),
    Setting("prometheus_port", "AXONIZE_PROMETHEUS_PORT", "", "0",
            "Serve the GenAI and GPU metrics for Prometheus on this port (`/metrics`, with "
            "`/healthz`, `/health`, `/readyz`, `/ready`); `0`: off (nothing started, no cost). "
            "See docs/prometheus.md."),
    Setting("prometheus_host", "AXONIZE_PROMETHEUS_HOST", "", "127.0.0.1",
            "Address the Prometheus exporter binds (`0.0.0.0` to be scraped from other hosts)."),
)


@dataclass
class Config:
    service_name: str = "unknown_service"
    environment: str = ""
    endpoint: str = ""
    protocol: str = "grpc"
    headers: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    exporter: str = "otlp"
    file_path: str = "axonize-spans.jsonl"
    compression: str = "gzip"
    insecure: bool | None = None
    certificate: str = ""
    timeout_ms: int = 10_000
    max_retry_ms: int = 30_000
    batch_size: int = 512
    flush_interval_ms: int = 5_000
    max_queue_size: int = 131_072
    max_queue_bytes: int = 56 * 1024 * 1024
    metrics_interval_ms: int = 60_000
    metrics: bool = True
    sample_rate: float = 1.0
    semconv: str = "both"
    disabled: bool = False
    gpu_profiling: bool = True
    gpu_backend: str = "auto"
    gpu_sample_interval_ms: int = 100
    gpu_simulate: str = ""
    price_file: str = ""
    energy_usd_per_kwh: float | None = None  # None: the price file's, else 0.15
    plugins: str = ""
    disabled_plugins: str = ""
    capture_content: bool = False
    max_content_length: int = 4096
    capture_steps: bool = False
    shutdown_timeout_ms: int = 5_000
    resource_attributes: dict[str, str] = field(default_factory=dict)
    debug: bool = False
    genai_conventions: str = "default"
    flush_on_sigterm: bool = True
    thread_context: bool = True
    prometheus_port: int = 0
    prometheus_host: str = "127.0.0.1"

    # ----------------------------------------------------------------- derived
    def resolved_endpoint(self) -> str:
        if self.endpoint:
            return self.endpoint
        return "http://localhost:4318" if self.protocol == "http/protobuf" else (
            "http://localhost:4317")

    def use_tls(self) -> bool:
        if self.insecure is not None:
            return not self.insecure
        return self.resolved_endpoint().startswith("https://")

    def request_headers(self) -> dict[str, str]:
        out = {k.lower(): v for k, v in self.headers.items()}
        if self.api_key and "authorization" not in out:
            out["authorization"] = f"Bearer {self.api_key}"
        return out

    def resource(self) -> dict[str, Any]:
        from axonize_core._version import __version__

        attrs: dict[str, Any] = {
            "service.name": self.service_name,
            "telemetry.sdk.name": "axonize",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": __version__,
            "host.name": socket.gethostname(),
        }
        if self.environment:
            attrs["deployment.environment.name"] = self.environment
        for k, v in self.resource_attributes.items():
            if k == "service.name" and self.service_name != "unknown_service":
                continue  # an explicit service name wins, as in the OTel SDK
            attrs[k] = v
        return attrs


# ------------------------------------------------------------------------- parsing
def _parse_bool(v: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {v!r}")


def _parse_kv(v: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in v.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value pairs separated by commas, got {part!r}")
        out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return out


def _positive_int(v: Any) -> int:
    n = int(v)
    if n <= 0:
        raise ValueError(f"expected a positive integer, got {v!r}")
    return n


def _port(v: Any) -> int:
    n = int(v)
    if not 0 <= n <= 65535:
        raise ValueError(f"expected a port from 0 to 65535, got {v!r}")
    return n


def _rate(v: Any) -> float:
    r = float(v)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"expected a number from 0 to 1, got {v!r}")
    return r


def _non_negative(v: Any) -> float:
    x = float(v)
    if x < 0:
        raise ValueError(f"expected a number >= 0, got {v!r}")
    return x


def _topology(v: Any) -> str:
    from axonize_core.gpu._simulated import parse_topology

    parse_topology(str(v))  # raises ValueError with what is wrong
    return str(v)


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        s = str(v).strip().lower()
        if s not in options:
            raise ValueError(f"expected one of {', '.join(options)}; got {v!r}")
        return s

    return parse


def _exporter(v: Any) -> str:
    s = str(v).strip().lower()
    if s in ("otlp_proto_grpc", "otlp_proto_http"):
        s = "otlp"
    return _choice(EXPORTERS)(s)


def _protocol(v: Any) -> str:
    s = str(v).strip().lower()
    if s == "http/json":
        raise ValueError("http/json is not supported; use grpc or http/protobuf")
    return _choice(PROTOCOLS)(s)


def _str(v: Any) -> str:
    return str(v)


def _genai_conventions(v: Any) -> str:
    s = str(v).strip().lower()
    if s not in ("default", "latest_experimental"):
        raise ValueError("expected 'default' or 'latest_experimental'")
    return s


def _bool_kw(v: Any) -> bool:
    return v if isinstance(v, bool) else _parse_bool(str(v))


def _kv_kw(v: Any) -> dict[str, str]:
    if isinstance(v, Mapping):
        return {str(k): str(x) for k, x in v.items()}
    return _parse_kv(str(v))


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "service_name": _str,
    "environment": _str,
    "endpoint": _str,
    "protocol": _protocol,
    "headers": _kv_kw,
    "api_key": _str,
    "exporter": _exporter,
    "file_path": _str,
    "compression": _choice(COMPRESSIONS),
    "insecure": _bool_kw,
    "certificate": _str,
    "timeout_ms": _positive_int,
    "max_retry_ms": lambda v: max(0, int(v)),
    "batch_size": _positive_int,
    "flush_interval_ms": _positive_int,
    "max_queue_size": _positive_int,
    "max_queue_bytes": _positive_int,
    "metrics_interval_ms": _positive_int,
    "metrics": _bool_kw,
    "sample_rate": _rate,
    "semconv": _choice(SEMCONV_MODES),
    "disabled": _bool_kw,
    "gpu_profiling": _bool_kw,
    "gpu_backend": _choice(("auto", "nvml", "apple", "simulated", "none")),
    "gpu_sample_interval_ms": _positive_int,
    "gpu_simulate": _topology,
    "price_file": _str,
    "energy_usd_per_kwh": _non_negative,
    "plugins": _str,
    "disabled_plugins": _str,
    "capture_content": _bool_kw,
    "max_content_length": _positive_int,
    "capture_steps": _bool_kw,
    "shutdown_timeout_ms": _positive_int,
    "resource_attributes": _kv_kw,
    "debug": _bool_kw,
    "genai_conventions": _genai_conventions,
    "flush_on_sigterm": _bool_kw,
    "thread_context": _bool_kw,
    "prometheus_port": _port,
    "prometheus_host": _str,
}

_FIELD_NAMES = frozenset(f.name for f in fields(Config))
assert _FIELD_NAMES == set(_PARSERS) == {s.name for s in SETTINGS}


def load_config(env: Mapping[str, str] | None = None, **kwargs: Any) -> Config:
    """Build the configuration: kwargs > AXONIZE_* > OTEL_* > defaults.

    Unknown or invalid keyword arguments raise ``ValueError``; invalid environment values are
    logged once and ignored.
    """
    environ = os.environ if env is None else env
    cfg = Config()
    for s in SETTINGS:
        raw: str | None = None
        source = ""
        if s.env in environ:
            raw, source = environ[s.env], s.env
        elif s.otel_env and s.otel_env in environ:
            raw, source = environ[s.otel_env], s.otel_env
        if raw is None or (raw == "" and s.name not in ("headers", "resource_attributes")):
            continue
        try:
            value = _from_env(s.name, source, raw)
        except (TypeError, ValueError) as exc:
            logger.warning("axonize: ignoring %s=%r: %s", source, raw, exc)
            continue
        if value is not None:
            setattr(cfg, s.name, value)
    for key, value in kwargs.items():
        if key not in _FIELD_NAMES:
            close = [n for n in _FIELD_NAMES if n.startswith(key[:4])]
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
            raise ValueError(f"axonize.init() got an unknown setting {key!r}{hint}")
        if value is None:
            continue
        try:
            setattr(cfg, key, _PARSERS[key](value))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"axonize.init({key}={value!r}): {exc}") from None
    return cfg


def _from_env(name: str, source: str, raw: str) -> Any:
    if source == "OTEL_TRACES_EXPORTER":
        first = raw.split(",")[0].strip().lower()
        return _exporter(first)
    if source == "OTEL_TRACES_SAMPLER_ARG":
        sampler = os.environ.get("OTEL_TRACES_SAMPLER", "")
        if "traceidratio" not in sampler:
            return None
    if source == "OTEL_SEMCONV_STABILITY_OPT_IN":
        opted = {v.strip() for v in raw.split(",")}
        return "latest_experimental" if "gen_ai_latest_experimental" in opted else "default"
    if source in ("OTEL_EXPORTER_OTLP_TIMEOUT",):
        return _positive_int(raw)
    if name in ("headers", "resource_attributes"):
        return _parse_kv(raw)
    if name in ("insecure", "metrics", "disabled", "gpu_profiling", "capture_content", "debug",
                "flush_on_sigterm", "thread_context", "capture_steps"):
        return _parse_bool(raw)
    return _PARSERS[name](raw)


def settings_markdown() -> str:
    """The settings table of docs/configuration.md."""
    lines = [
        "| `axonize.init` argument | Environment | Standard OTel variable | Default | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        otel = f"`{s.otel_env}`" if s.otel_env else ""
        default = f"`{s.default}`" if s.default else ""
        lines.append(f"| `{s.name}` | `{s.env}` | {otel} | {default} | {s.meaning} |")
    return "\n".join(lines) + "\n"
