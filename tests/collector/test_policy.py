"""Policy: spans breaking a rule are marked, and dropped or routed when asked."""

from __future__ import annotations

from axonize_collector import MAIN, Pipeline, PolicyProcessor

from axonize_core.otlp_wire import attributes


def _names(req) -> list[str]:
    return [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_rules_mark_the_spans_that_break_them(otel_request, genai) -> None:
    req = otel_request([
        {"name": "ok", "attributes": {**genai, "owner.team": "search"}},
        {"name": "denied", "attributes": {**genai, "gen_ai.response.model": "o1-preview",
                                          "owner.team": "search"}},
        {"name": "long", "attributes": {**genai, "gen_ai.usage.output_tokens": 9000}},
    ])
    Pipeline([PolicyProcessor(deny_models=["o1*"], max_output_tokens=4096,
                              require_owner=["team"])]).run(req)
    spans = {s.name: attributes(s.attributes) for s in req.resource_spans[0].scope_spans[0].spans}
    assert "policy.violations" not in spans["ok"]
    assert spans["denied"]["policy.violations"] == ["deny_models"]
    assert spans["long"]["policy.violations"] == ["max_output_tokens", "require_owner:team"]
    assert spans["long"]["policy.action"] == "mark"


def test_an_allow_list_drops_or_routes_the_rest(otel_request, genai) -> None:
    specs = [{"name": "allowed", "attributes": genai},
             {"name": "other", "attributes": {**genai, "gen_ai.response.model": "claude-3-opus"}}]
    req = otel_request(specs)
    p = Pipeline([PolicyProcessor(allow_models=["gpt-4o-mini*"], action="drop")])
    out = p.run(req)
    assert _names(out[MAIN]) == ["allowed"] and p.counts.dropped == 1

    req = otel_request(specs)
    out = Pipeline([PolicyProcessor(allow_models=["gpt-4o-mini*"], action="route")]).run(req)
    assert _names(out[MAIN]) == ["allowed"] and _names(out["policy"]) == ["other"]
    routed = out["policy"].resource_spans[0]
    assert routed.resource == req.resource_spans[0].resource  # the resource goes along
