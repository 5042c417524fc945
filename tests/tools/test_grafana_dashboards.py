"""docs/grafana/ is what tools/grafana_dashboards.py generates; every dashboard queries only
series Axonize exposes, through the datasource variable; the alerting rules pass promtool."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

from axonize_testsupport.prometheus import promtool

from axonize_core._prometheus import METRICS

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "grafana_dashboards", ROOT / "tools" / "grafana_dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["grafana_dashboards"] = module
    spec.loader.exec_module(module)
    return module


tool = _tool()


def test_committed_dashboards_are_what_the_code_generates(tmp_path: Path) -> None:
    assert tool.main(["--check"]) == 0, "run: python tools/grafana_dashboards.py"
    assert tool.main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (ROOT / "docs" / "grafana").glob("*.json"))
    (tmp_path / "gpu-fleet.json").write_text("{}")
    assert tool.main(["--check", str(tmp_path)]) == 1


def test_dashboards_use_the_datasource_variable_and_known_series() -> None:
    known = set()
    for m in METRICS:
        known.add(f"{m.name}_total" if m.type == "counter" else m.name)
        if m.type == "histogram":
            known.update(f"{m.name}_{s}" for s in ("bucket", "sum", "count"))
    for path in (ROOT / "docs" / "grafana").glob("*.json"):
        doc = json.loads(path.read_text())
        variables = [v["name"] for v in doc["templating"]["list"]]
        assert variables[0] == "datasource", path.name
        assert doc["panels"], path.name
        for panel in doc["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])
            for target in panel["targets"]:
                used = set(re.findall(r"axonize_[a-z_]+", target["expr"]))
                assert used and used <= known, (path.name, used - known)


def test_alerting_rules_pass_promtool() -> None:
    rules = ROOT / "docs" / "prometheus" / "alerts.yml"
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    text = rules.read_text()
    for series in ("axonize_gen_ai_errors_total", "axonize_gen_ai_time_to_first_token_seconds",
                   "axonize_gpu_temperature_celsius", "axonize_server_ingest_log_backlog_bytes"):
        assert series in text
