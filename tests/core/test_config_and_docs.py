"""Configuration precedence and errors, and docs that match the code."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import axonize
from axonize_core import semconv
from axonize_core._config import load_config, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_precedence_kwargs_over_axonize_over_otel() -> None:
    env = {"OTEL_SERVICE_NAME": "otel", "AXONIZE_SERVICE_NAME": "axonize",
           "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64", "AXONIZE_SEMCONV": "gen_ai"}
    cfg = load_config(env)
    assert (cfg.service_name, cfg.batch_size, cfg.semconv) == ("axonize", 64, "gen_ai")
    assert load_config(env, service_name="kw").service_name == "kw"


def test_protocol_picks_the_default_endpoint_and_tls_follows_the_scheme() -> None:
    assert load_config({}).resolved_endpoint() == "http://localhost:4317"
    http = load_config({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
    assert http.resolved_endpoint() == "http://localhost:4318"
    assert load_config({}, endpoint="https://collector:4317").use_tls()
    assert not load_config({}, endpoint="http://collector:4317").use_tls()


@pytest.mark.axonize_lenient  # breaks Axonize on purpose
def test_bad_environment_value_is_ignored_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="axonize"):
        cfg = load_config({"AXONIZE_SAMPLE_RATE": "lots", "AXONIZE_EXPORTER": "kafka"})
    assert cfg.sample_rate == 1.0 and cfg.exporter == "otlp"
    assert "AXONIZE_SAMPLE_RATE" in caplog.text and "AXONIZE_EXPORTER" in caplog.text
    assert "otlp, console, file, none" in caplog.text


def test_bad_keyword_argument_raises_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"sample_rate=2.*from 0 to 1"):
        axonize.init(sample_rate=2)
    with pytest.raises(ValueError, match=r"unknown setting 'servce_name'.*service_name"):
        axonize.init(servce_name="x")
    with pytest.raises(ValueError, match=r"http/json is not supported"):
        axonize.init(protocol="http/json")


def test_sampler_arg_needs_a_ratio_sampler() -> None:
    assert load_config({"OTEL_TRACES_SAMPLER_ARG": "0.1"}).sample_rate == 1.0


def test_semconv_doc_matches_the_code() -> None:
    doc = (ROOT / "docs" / "semconv.md").read_text()
    assert semconv.render_doc(doc) == doc, "run: python -m axonize semconv --write docs/semconv.md"
    for spec in semconv.ATTRIBUTES:
        assert f"`{spec.name}`" in doc


def test_configuration_doc_matches_the_code() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert settings_markdown() in doc, "run: python -m axonize settings"


def test_every_gen_ai_mapping_is_a_standard_name() -> None:
    assert semconv.GEN_AI_NAMES[semconv.AI_LLM_TOKENS_INPUT] == "gen_ai.usage.input_tokens"
    assert all(v.startswith("gen_ai.") for v in semconv.GEN_AI_NAMES.values())
