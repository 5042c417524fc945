"""Generate the Grafana dashboards of docs/grafana/ from code (never edit the JSON by hand).

Usage: ``python tools/grafana_dashboards.py [--check] [OUT_DIR]`` (default docs/grafana).  With
``--check`` nothing is written and the exit status is 1 when a committed file differs from what
this script generates.  Every panel queries the Prometheus series of docs/prometheus.md through
the ``datasource`` variable, so a dashboard imports into any Grafana with a Prometheus source.
Standard library only: the dashboards are plain Grafana JSON (schema version 39).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
GENAI_SEL = 'tenant=~"$tenant", service=~"$service", model=~"$model"'


def _variable_datasource() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1}


def _variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"var-{name}"}, "definition": query,
            "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2,
            "sort": 1, "hide": 0}


def _panel(title: str, exprs: list[tuple[str, str]], unit: str, x: int, y: int,
           w: int = 12, h: int = 8, kind: str = "timeseries") -> dict[str, Any]:
    return {
        "type": kind, "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [{"datasource": DS, "expr": expr, "legendFormat": legend,
                     "refId": chr(ord("A") + i)} for i, (expr, legend) in enumerate(exprs)],
    }


def _grid(panels: list[tuple[str, list[tuple[str, str]], str]]) -> list[dict[str, Any]]:
    """Two panels a row, in order, with ids."""
    out = []
    for i, (title, exprs, unit) in enumerate(panels):
        panel = _panel(title, exprs, unit, x=(i % 2) * 12, y=(i // 2) * 8)
        panel["id"] = i + 1
        out.append(panel)
    return out


def _dashboard(uid: str, title: str, description: str, variables: list[dict[str, Any]],
               panels: list[tuple[str, list[tuple[str, str]], str]]) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["axonize", "genai", "prometheus"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [_variable_datasource(), *variables]},
        "annotations": {"list": []}, "links": [],
        "panels": _grid(panels),
    }


def _genai_vars() -> list[dict[str, Any]]:
    return [
        _variable("tenant", "label_values(axonize_gen_ai_requests_total, tenant)", "Tenant"),
        _variable("service", 'label_values(axonize_gen_ai_requests_total{tenant=~"$tenant"}, '
                             "service)", "Service"),
        _variable("model", 'label_values(axonize_gen_ai_requests_total{tenant=~"$tenant", '
                           'service=~"$service"}, model)', "Model"),
    ]


def _quantile(q: str, metric: str, by: str = "model") -> str:
    return (f"histogram_quantile({q}, sum by ({by}, le) "
            f"(rate({metric}_bucket{{{GENAI_SEL}}}[$__rate_interval])))")


def inference_overview() -> dict[str, Any]:
    rate = "[$__rate_interval]"
    return _dashboard(
        "axonize-inference-overview", "Axonize / Inference overview",
        "Requests, errors, tokens, cost and latency of GenAI operations, per model.",
        _genai_vars(),
        [
            ("Requests / s", [(f"sum by (model) (rate(axonize_gen_ai_requests_total"
                               f"{{{GENAI_SEL}}}{rate}))", "{{model}}")], "reqps"),
            ("Error ratio", [(f"sum by (model) (rate(axonize_gen_ai_errors_total{{{GENAI_SEL}}}"
                              f"{rate})) / sum by (model) (rate(axonize_gen_ai_requests_total"
                              f"{{{GENAI_SEL}}}{rate}))", "{{model}}")], "percentunit"),
            ("Tokens / s", [(f"sum by (model, token_type) (rate(axonize_gen_ai_tokens_total"
                             f"{{{GENAI_SEL}}}{rate}))", "{{model}} {{token_type}}")], "short"),
            ("Cost / hour (USD)", [(f"3600 * sum by (model) (rate(axonize_gen_ai_cost_usd_total"
                                    f"{{{GENAI_SEL}}}{rate}))", "{{model}}")], "currencyUSD"),
            ("Latency p95", [(_quantile("0.95", "axonize_gen_ai_operation_duration_seconds"),
                              "{{model}}")], "s"),
            ("Time to first token p95",
             [(_quantile("0.95", "axonize_gen_ai_time_to_first_token_seconds"), "{{model}}")],
             "s"),
        ])


def model_latency() -> dict[str, Any]:
    panels = []
    for title, metric in (
        ("Latency", "axonize_gen_ai_operation_duration_seconds"),
        ("Time to first token", "axonize_gen_ai_time_to_first_token_seconds"),
        ("Time per output token", "axonize_gen_ai_time_per_output_token_seconds"),
    ):
        panels.append((f"{title} p50 / p95 / p99",
                       [(_quantile(q, metric), f"{{{{model}}}} p{q[2:].ljust(2, '0')}")
                        for q in ("0.5", "0.95", "0.99")], "s"))
    panels.append(("Output tokens per second (median)",
                   [(_quantile("0.5", "axonize_gen_ai_output_tokens_per_second"), "{{model}}")],
                   "short"))
    return _dashboard(
        "axonize-model-latency", "Axonize / Per-model latency and TTFT",
        "Latency, time to first token and time per output token quantiles, per model.",
        _genai_vars(), panels)


def gpu_fleet() -> dict[str, Any]:
    sel = 'tenant=~"$tenant", node=~"$node"'
    return _dashboard(
        "axonize-gpu-fleet", "Axonize / GPU fleet",
        "Utilization, memory, power, temperature and energy of every GPU reporting.",
        [_variable("tenant", "label_values(axonize_gpu_memory_used_bytes, tenant)", "Tenant"),
         _variable("node", 'label_values(axonize_gpu_memory_used_bytes{tenant=~"$tenant"}, '
                           "node)", "Node")],
        [
            ("Utilization", [(f"axonize_gpu_utilization_ratio{{{sel}}}",
                              "{{node}} {{gpu_uuid}}")], "percentunit"),
            ("Memory used / total", [
                (f"axonize_gpu_memory_used_bytes{{{sel}}} / "
                 f"axonize_gpu_memory_total_bytes{{{sel}}}", "{{node}} {{gpu_uuid}}")],
             "percentunit"),
            ("Power", [(f"axonize_gpu_power_watts{{{sel}}}", "{{node}} {{gpu_uuid}}")], "watt"),
            ("Temperature", [(f"axonize_gpu_temperature_celsius{{{sel}}}",
                              "{{node}} {{gpu_uuid}}")], "celsius"),
            ("Energy (W, from the counter)", [
                (f"rate(axonize_gpu_energy_joules_total{{{sel}}}[$__rate_interval])",
                 "{{node}} {{gpu_uuid}}")], "watt"),
            ("Fleet average utilization", [
                (f"avg(axonize_gpu_utilization_ratio{{{sel}}})", "fleet")], "percentunit"),
        ])


def backend_health() -> dict[str, Any]:
    rate = "[$__rate_interval]"
    return _dashboard(
        "axonize-backend-health", "Axonize / Backend health",
        "axonize-server's ingest, backlog, refusals and API latency (admin-key scrape).",
        [],
        [
            ("Ingest (spans / s)", [(f"sum(rate(axonize_server_ingest_spans_total{rate}))",
                                     "spans")], "short"),
            ("OTLP requests / s", [(f"sum by (signal) (rate(axonize_server_ingest_requests_total"
                                    f"{rate}))", "{{signal}}")], "reqps"),
            ("Ingest-log backlog", [("axonize_server_ingest_log_backlog_bytes", "backlog")],
             "bytes"),
            ("Rejected requests / s", [
                (f"sum by (reason, transport) (rate(axonize_server_rejected_requests_total"
                 f"{rate}))", "{{reason}} ({{transport}})")], "reqps"),
            ("API latency p95 by route", [
                (f"histogram_quantile(0.95, sum by (route, le) (rate("
                 f"axonize_server_http_request_duration_seconds_bucket{rate})))", "{{route}}")],
             "s"),
            ("Refused spans and quarantine", [
                (f"sum(rate(axonize_server_refused_spans_total{rate}))", "refused spans / s"),
                ("axonize_server_ingest_quarantined_requests", "quarantined requests")],
             "short"),
            ("Label values folded into other / s", [
                (f"sum by (label) (rate(axonize_metrics_label_overflow_total{rate}))",
                 "{{label}}")], "short"),
        ])


DASHBOARDS = {
    "inference-overview.json": inference_overview,
    "model-latency.json": model_latency,
    "gpu-fleet.json": gpu_fleet,
    "backend-health.json": backend_health,
}


def render() -> dict[str, str]:
    """File name -> its JSON text."""
    return {name: json.dumps(make(), indent=2, sort_keys=True) + "\n"
            for name, make in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed file differs")
    parser.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parents[1]
                                                      / "docs" / "grafana"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    stale = []
    for name, text in render().items():
        path = out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run: python tools/grafana_dashboards.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
