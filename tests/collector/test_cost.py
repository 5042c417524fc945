"""Cost: plain OTel GenAI spans are priced from the hosted-model table; GPU time from
``gpu.N.*``; prices already present are kept."""

from __future__ import annotations

from typing import Any

import pytest
from axonize_collector import CostProcessor, Pipeline

from axonize_core.cost import PriceTable
from axonize_core.otlp_wire import attributes


def _spans(req: Any) -> list[dict[str, Any]]:
    return [attributes(s.attributes) for rs in req.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def test_a_plain_otel_genai_span_is_priced_by_its_response_model(otel_request, genai) -> None:
    req = otel_request([{"attributes": genai}])
    Pipeline([CostProcessor()]).run(req)
    (span,) = _spans(req)
    # gpt-4o-mini: 0.15 USD / 1M input, 0.60 USD / 1M output (the dated table).
    expected = (1200 * 0.15 + 300 * 0.60) / 1e6
    assert span["cost.tokens_usd"] == pytest.approx(expected)
    assert span["cost.total_usd"] == pytest.approx(expected)


@pytest.mark.parametrize(("model", "per_1m"), [
    ("claude-3-5-sonnet-20241022", (3.0, 15.0)),
    ("models/gemini-2.5-flash", (0.30, 2.50)),
    ("mistral-large-latest", (2.0, 6.0)),
    ("gpt-4o-2024-08-06", (2.5, 10.0)),
])
def test_every_provider_in_the_table_is_priced(otel_request, model, per_1m) -> None:
    req = otel_request([{"attributes": {"gen_ai.request.model": model,
                                        "gen_ai.usage.input_tokens": 1000,
                                        "gen_ai.usage.output_tokens": 1000}}])
    Pipeline([CostProcessor()]).run(req)
    assert _spans(req)[0]["cost.total_usd"] == pytest.approx(sum(per_1m) / 1000)


def test_a_price_file_overrides_the_shipped_table(otel_request, genai, tmp_path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"tokens_per_1k_usd": {"gpt-4o-mini-2024-07-18": '
                      '{"input": 1.0, "output": 2.0}}}')
    req = otel_request([{"attributes": genai}])
    Pipeline([CostProcessor(PriceTable.load(str(prices), hosted=True))]).run(req)
    assert _spans(req)[0]["cost.tokens_usd"] == pytest.approx(1.2 + 0.6)


def test_gpu_seconds_count_a_mig_slice_at_its_share(otel_request) -> None:
    req = otel_request([{"duration_ms": 7000, "attributes": {
        "gpu.0.name": "NVIDIA H100 80GB HBM3", "gpu.0.mig.profile": "1g.10gb",
        "gpu.1.name": "NVIDIA H100 80GB HBM3"}}])
    Pipeline([CostProcessor(PriceTable({"H100": 3.6}))]).run(req)
    span = _spans(req)[0]
    assert span["cost.gpu_seconds"] == pytest.approx(1.0 + 7.0)
    assert span["cost.gpu_usd"] == pytest.approx(8.0 / 3600 * 3.6)
    assert span["cost.total_usd"] == pytest.approx(span["cost.gpu_usd"])


def test_spans_already_priced_or_unknown_are_left_alone(otel_request, genai) -> None:
    req = otel_request([{"attributes": {**genai, "cost.total_usd": 9.0}},
                        {"attributes": {"gen_ai.request.model": "my-own-llama",
                                        "gen_ai.usage.input_tokens": 5}},
                        {"attributes": {"http.route": "/"}}])
    before = _spans(req)
    Pipeline([CostProcessor()]).run(req)
    assert _spans(req) == before


def test_the_fast_path_over_the_body_prices_exactly_as_decoding_does(otel_request, genai) -> None:
    specs = [{"name": "chat", "attributes": genai},
             {"name": "legacy", "attributes": {"gen_ai.request.model": "claude-3-haiku",
                                               "gen_ai.usage.prompt_tokens": 10,
                                               "gen_ai.usage.completion_tokens": 20}},
             {"name": "axonize", "attributes": {"ai.model.name": "gpt-4.1-nano",
                                                "ai.llm.tokens.input": 7,
                                                "ai.llm.tokens.output": 3}},
             {"name": "gpu", "duration_ms": 3600, "attributes": {"gpu.0.name": "NVIDIA L4"}},
             {"name": "priced", "attributes": {**genai, "cost.total_usd": 1.0}},
             # The same names in an event are not the span's: not priced.
             {"name": "event-only", "events": [("usage", genai)]},
             {"name": "long-model", "attributes": {**genai,
                                                   "gen_ai.response.model": "gpt-4o-" + "x" * 200}}]
    fast = otel_request(specs)
    slow = type(fast)()
    slow.CopyFrom(fast)
    Pipeline([CostProcessor()]).run(slow)
    body = fast.SerializeToString()
    # The fast path is taken: only the spans that get a price (or need their duration) visited.
    assert CostProcessor().begin(fast, body) == frozenset({0, 1, 2, 3, 6})
    Pipeline([CostProcessor()]).run(fast, body)
    assert _spans(fast) == _spans(slow)
    by_name = {s.name: attributes(s.attributes)
               for s in fast.resource_spans[0].scope_spans[0].spans}
    assert "cost.total_usd" not in by_name["event-only"]
    assert by_name["gpu"]["cost.gpu_usd"] == pytest.approx(3.6 / 3600 * 0.70)  # L4: 0.70 / h
    assert by_name["long-model"]["cost.tokens_usd"] == pytest.approx((1200 * 2.5 + 300 * 10) / 1e6)
    assert all("cost.total_usd" in a for n, a in by_name.items() if n != "event-only")
