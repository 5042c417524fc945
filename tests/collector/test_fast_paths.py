"""The relay's fast paths over the encoded body give exactly what decoding every span gives:
the token-only cost path, the secret look-outs, and the splice of several scopes."""

from __future__ import annotations

from typing import Any

import pytest
from axonize_collector import MAIN, CostProcessor, Pipeline, RedactionProcessor
from axonize_collector.cost_wire import token_attributes
from axonize_collector.patterns import SECRETS
from axonize_collector.splice import append_attributes, encode_attribute
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_core.otlp_wire import attributes


def _attrs(req: Any) -> list[dict[str, Any]]:
    return [attributes(s.attributes) for rs in req.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def _both(req: Any, *make: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The spans' attributes after the processors: through the body (the relay's path) and
    decoded span by span (no body)."""
    slow = type(req)()
    slow.CopyFrom(req)
    Pipeline([m() for m in make]).run(slow)
    out = Pipeline([m() for m in make]).run_encoded(req, req.SerializeToString())
    fast = ts.ExportTraceServiceRequest.FromString(out[MAIN][0]) if out else type(req)()
    return _attrs(fast), _attrs(slow)


TOKEN_SPANS: list[dict[str, Any]] = [
    {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 1200,
     "gen_ai.usage.output_tokens": 300},
    {"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.request.model": "gpt-4o",
     "gen_ai.usage.input_tokens": 3_000_000, "gen_ai.usage.output_tokens": 1},  # 3-byte varint
    {"gen_ai.request.model": "claude-3-haiku", "gen_ai.usage.prompt_tokens": 10,
     "gen_ai.usage.completion_tokens": 20},
    {"ai.model.name": "gpt-4.1-nano", "ai.llm.tokens.input": 7, "ai.llm.tokens.output": 3},
    {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5},  # no output tokens
    {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "42",
     "gen_ai.usage.output_tokens": 2.5},  # a string and a double
    {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": -3,
     "gen_ai.usage.output_tokens": 0},
    {"gen_ai.response.model": "", "gen_ai.request.model": "mistral-large-latest",
     "gen_ai.usage.output_tokens": 9},  # an empty model name is skipped
    {"gen_ai.request.model": "my-own-llama", "gen_ai.usage.input_tokens": 5},  # no price
    {"gen_ai.request.model": "gpt-4o"},  # no tokens
    {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 1,
     "gen_ai.usage.input_tokens.extra": 2, "note": "gen_ai.usage.output_tokens"},
    {"http.route": "/"},
]


def test_the_token_path_prices_plain_otel_genai_spans_as_decoding_does(otel_request,
                                                                      genai) -> None:
    specs = [{"name": f"s{i}", "attributes": a} for i, a in enumerate(TOKEN_SPANS)]
    specs.append({"name": "event-only", "events": [("usage", genai)]})
    req = otel_request(specs)
    assert token_attributes(req.SerializeToString()) is not None  # the token path is taken
    fast, slow = _both(req, CostProcessor)
    assert fast == slow
    assert fast[0]["cost.total_usd"] == pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6)
    priced = [i for i, a in enumerate(fast) if "cost.total_usd" in a]
    assert priced == [0, 1, 2, 3, 4, 5, 6, 7, 10]


@pytest.mark.parametrize("other", [
    {"cost.total_usd": 1.0}, {"cost.tokens_usd": 1.0}, {"gpu.0.name": "NVIDIA L4"},
    {"gen_ai.response.model": "gpt-4o-" + "x" * 200}])
def test_spans_the_token_path_leaves_to_the_general_path_are_priced_the_same(
        otel_request, genai, other) -> None:
    req = otel_request([{"name": "plain", "attributes": genai},
                        {"name": "other", "duration_ms": 3600, "attributes": {**genai, **other}}])
    assert token_attributes(req.SerializeToString()) is None
    fast, slow = _both(req, CostProcessor)
    assert fast == slow and "cost.total_usd" in fast[0]


SAMPLES = {
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END RSA PRIVATE KEY-----",
    "anthropic_key": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "openai_key": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "google_key": "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "aws_key": "ASIAIOSFODNN7EXAMPLE",
    "github_token": "github_pat_" + "A1b2C3d4E5f6G7h8I9j0K1l2",
    "huggingface_token": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz123456",
    "groq_key": "gsk_" + "a1B2" * 11,
    "slack_token": "xoxb-1234567890-abcdefghij",
    "stripe_key": "rk_test_" + "a1B2c3D4e5F6g7H8",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "bearer_token": "BeArEr abcdefgh12345678",
    "basic_auth": "https://user:pa55word@example.com/x",
}


def test_every_secret_kind_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(p.kind for p in SECRETS)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_the_look_outs_find_every_kind_of_secret_in_its_span(otel_request, genai, kind) -> None:
    specs = [{"name": f"s{i}", "attributes": {**genai, "note": f"request {i}"}}
             for i in range(6)]
    specs[4]["attributes"]["note"] = f"value: {SAMPLES[kind]} (end)"
    req = otel_request(specs)
    assert RedactionProcessor().begin(req, req.SerializeToString()) == frozenset({4})
    fast, slow = _both(req, CostProcessor, RedactionProcessor)
    assert fast == slow
    assert f"[REDACTED:{kind}]" in fast[4]["note"] and fast[4]["redaction.masked"] == 1


def test_a_request_without_secrets_is_forwarded_with_only_the_prices_added(otel_request,
                                                                         genai) -> None:
    req = otel_request([{"name": f"s{i}", "attributes": {**genai, "url": "https://h/x",
                                                          "note": "desk k_x sk_ eyes aside"}}
                        for i in range(5)])
    body = req.SerializeToString()
    assert RedactionProcessor().begin(req, body) is False
    fast, slow = _both(req, CostProcessor, RedactionProcessor)
    assert fast == slow and all("redaction.masked" not in a for a in fast)


def test_the_splice_rewrites_the_lengths_of_every_scope_and_resource(otel_request, genai) -> None:
    req = otel_request([{"name": f"s{i}", "attributes": genai} for i in range(3)])
    for r in range(2):  # two more resources of two scopes, one with a long span
        rs = req.resource_spans.add()
        for s in range(2):
            sp = rs.scope_spans.add().spans.add(name=f"r{r}s{s}", trace_id=b"1" * 16,
                                                span_id=bytes([r, s]) * 4)
            sp.attributes.add(key="k").value.string_value = "v" * (150 if s else 3)
    body = req.SerializeToString()
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    changed = type(spans[5])()
    changed.CopyFrom(spans[5])
    changed.attributes.add(key="big").value.string_value = "x" * 20000  # 3-byte lengths
    extra = {k: encode_attribute("cost.total_usd", float(k)) for k in (0, 3, 4, 6)}
    got = ts.ExportTraceServiceRequest.FromString(
        append_attributes(body, extra, {5: changed.SerializeToString(), 1: b""}))
    want = _attrs(req)
    for k in extra:
        want[k]["cost.total_usd"] = float(k)
    want[5]["big"] = "x" * 20000
    want[1] = {}
    assert _attrs(got) == want
    assert [s.name for rs in got.resource_spans for ss in rs.scope_spans for s in ss.spans] == [
        "s0", "", "s2", "r0s0", "r0s1", "r1s0", "r1s1"]
