"""The configuration: the sample file loads, defaults turn cost and secret redaction on,
environment switches and mistakes that name themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from axonize_collector.config import build_pipeline, load_file, settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_config_loads_with_every_processor(tmp_path) -> None:
    data = load_file(str(ROOT / "examples" / "collector.yaml"))
    data["processors"]["budget"]["state_file"] = str(tmp_path / "budget.json")
    s = settings(data)
    assert [e.url for e in s.exporters] == ["grpc://localhost:14317",
                                            "https://otlp.example.com/v1/traces"]
    assert s.routes["policy"].url == "http://localhost:4418/v1/traces"
    pipeline = build_pipeline(s.processors, env={})
    assert [p.name for p in pipeline.processors] == [
        "filter", "governance", "cost", "budget", "policy", "redaction", "sample"]


def test_toml_and_the_defaults(tmp_path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('exporters = ["http://127.0.0.1:4318"]\n[receivers]\ngrpc_port = 0\n')
    s = settings(load_file(str(f)))
    assert s.grpc_port == 0 and s.exporters[0].url == "http://127.0.0.1:4318"
    assert [p.name for p in build_pipeline(s.processors, env={}).processors] == [
        "cost", "redaction"]
    off = build_pipeline({}, env={"AXONIZE_COLLECTOR_COST": "0", "AXONIZE_COLLECTOR_PII": "1"})
    (red,) = off.processors
    assert "email" in {p.kind for p in red.patterns}


@pytest.mark.parametrize(("text", "message"), [
    ("[processors.colour]\n", "unknown"),
    ("[queue]\nsize = 3\n", r"queue: unknown keys \['size'\]"),
    ("[processors.redaction]\nsecret = true\n", "processors.redaction"),
    ("[processors.policy]\naction = 'explode'\n", "policy action"),
])
def test_mistakes_say_what_is_wrong(tmp_path, text, message) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ValueError, match=message):
        s = settings(load_file(str(f)))
        build_pipeline(s.processors, env={})
