"""Redaction: secrets masked by default, personal data when asked, content dropped when asked;
the span says how many values were masked, never what they were."""

from __future__ import annotations

from typing import Any

import pytest
from axonize_collector import Pipeline, RedactionProcessor

from axonize_core.otlp_wire import attributes

SECRETS = {
    "openai": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "google": "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "huggingface": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz123456",
}


def _span(req: Any) -> Any:
    return req.resource_spans[0].scope_spans[0].spans[0]


def _run(req: Any, proc: RedactionProcessor) -> Pipeline:
    p = Pipeline([proc])
    p.run(req, req.SerializeToString())
    return p


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_provider_keys_are_masked_by_default(otel_request, kind) -> None:
    secret = SECRETS[kind]
    req = otel_request([{"attributes": {"http.request.header.x-api-key": f"key={secret};",
                                        "gen_ai.request.model": "gpt-4o"}}])
    p = _run(req, RedactionProcessor())
    attrs = attributes(_span(req).attributes)
    assert secret not in req.SerializeToString().decode("utf-8", "replace")
    assert attrs["http.request.header.x-api-key"].startswith("key=[REDACTED:")
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["redaction.masked"] == 1 and p.counts.masked == 1


def test_bearer_tokens_basic_auth_urls_and_private_keys_in_attributes_events_and_status(
        otel_request) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    req = otel_request([{
        "attributes": {"http.request.header.authorization": "Bearer eyJhbGciOi.abc.def-123",
                       "db.connection": "postgres://admin:s3cret@db:5432/app",
                       "config": ["ok", pem]},
        "events": [("retry", {"url": "https://bob:hunter2@api.example.com/v1"})],
        "error": True, "message": "auth failed for Bearer abcdefgh12345678"}])
    _run(req, RedactionProcessor())
    span = _span(req)
    attrs = attributes(span.attributes)
    assert attrs["http.request.header.authorization"] == "Bearer [REDACTED:bearer_token]"
    assert attrs["db.connection"] == "postgres://[REDACTED:basic_auth]@db:5432/app"
    assert attrs["config"] == ["ok", "[REDACTED:private_key]"]
    assert attributes(span.events[0].attributes)["url"] == (
        "https://[REDACTED:basic_auth]@api.example.com/v1")
    assert span.status.message == "auth failed for Bearer [REDACTED:bearer_token]"
    assert attrs["redaction.masked"] == 5
    for secret in ("s3cret", "hunter2", "MIIEvQ", "abcdefgh12345678"):
        assert secret.encode() not in req.SerializeToString()


def test_personal_data_is_masked_only_when_enabled(otel_request) -> None:
    text = ("mail ann@example.org or call +1 (415) 555-0100, card 4111 1111 1111 1111, "
            "order 4111 1111 1111 1112, from 192.168.1.20 on 2024-05-01 12:30")
    req = otel_request([{"attributes": {"gen_ai.prompt": text}}])
    _run(req, RedactionProcessor())
    assert attributes(_span(req).attributes)["gen_ai.prompt"] == text  # secrets only
    _run(req, RedactionProcessor(pii=True))
    assert attributes(_span(req).attributes)["gen_ai.prompt"] == (
        "mail [REDACTED:email] or call [REDACTED:phone], card [REDACTED:card_number], "
        "order 4111 1111 1111 1112, from [REDACTED:ip_address] on 2024-05-01 12:30")


def test_user_patterns(otel_request) -> None:
    req = otel_request([{"attributes": {"note": "employee E-123456 asked"}}])
    _run(req, RedactionProcessor(patterns={"employee_id": r"E-\d{6}"}))
    assert attributes(_span(req).attributes)["note"] == "employee [REDACTED:employee_id] asked"


def test_content_attributes_and_events_can_be_dropped(otel_request) -> None:
    req = otel_request([{"attributes": {"gen_ai.input.messages": "[...]",
                                        "gen_ai.prompt.0.content": "hi",
                                        "ai.llm.completion": "hello",
                                        "gen_ai.request.model": "gpt-4o"},
                         "events": [("gen_ai.content.prompt", {"gen_ai.prompt": "hi"}),
                                    ("retry", {"attempt": 2})]}])
    _run(req, RedactionProcessor(drop_content=True))
    span = _span(req)
    assert attributes(span.attributes) == {"gen_ai.request.model": "gpt-4o"}
    assert [e.name for e in span.events] == ["retry"]


def test_a_clean_request_is_not_touched(otel_request, genai) -> None:
    req = otel_request([{"attributes": genai}])
    before = req.SerializeToString()
    p = _run(req, RedactionProcessor(pii=True))
    assert req.SerializeToString() == before and p.counts.masked == 0


def test_the_fast_path_looks_only_at_the_spans_that_match(otel_request, genai) -> None:
    specs = [{"name": f"s{i}", "attributes": {**genai, "note": f"request {i}"}}
             for i in range(20)]
    specs[7]["attributes"]["note"] = "token=BEARER abcdefgh12345678"
    specs[13]["events"] = [("call", {"url": "https://me:pw123456@h/x"})]
    fast = otel_request(specs)
    slow = type(fast)()
    slow.CopyFrom(fast)
    assert RedactionProcessor().begin(fast, fast.SerializeToString()) == frozenset({7, 13})
    _run(fast, RedactionProcessor())
    Pipeline([RedactionProcessor()]).run(slow)  # no body: every span decoded
    assert fast == slow
    spans = fast.resource_spans[0].scope_spans[0].spans
    assert attributes(spans[7].attributes)["note"] == "token=BEARER [REDACTED:bearer_token]"
    assert attributes(spans[13].events[0].attributes)["url"] == (
        "https://[REDACTED:basic_auth]@h/x")


def test_a_secret_in_the_resource_copied_onto_spans_is_masked(otel_request) -> None:
    from axonize_collector import GovernanceProcessor

    req = otel_request([{"name": "a"}], resource={"owner.project": "sk-proj-" + "x" * 24})
    p = Pipeline([GovernanceProcessor(), RedactionProcessor()])
    p.run(req, req.SerializeToString())
    assert attributes(_span(req).attributes)["owner.project"] == "[REDACTED:openai_key]"
