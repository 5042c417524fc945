-- Cumulative GenAI figures per tenant, service, model and operation, for Prometheus (/metrics):
-- kept by a materialized view as spans are loaded, so that ingest does no extra work per span and
-- a scrape reads a few rows per label set.  No TTL: counters only grow.  Histogram buckets are
-- cumulative counts (observations <= each bound of axonize_core._metrics' buckets; the +Inf
-- bucket is the count), checked against the code by tests/backend/test_metrics_endpoint.py.
CREATE TABLE IF NOT EXISTS {db}.prometheus_totals
(
    tenant_id       LowCardinality(String),
    service         LowCardinality(String),
    model           LowCardinality(String),
    operation       LowCardinality(String),
    first_seen      SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    requests        SimpleAggregateFunction(sum, UInt64),
    errors          SimpleAggregateFunction(sum, UInt64),
    tokens_input    SimpleAggregateFunction(sum, UInt64),
    tokens_output   SimpleAggregateFunction(sum, UInt64),
    cost_usd        SimpleAggregateFunction(sum, Float64),
    gpu_seconds     SimpleAggregateFunction(sum, Float64),
    duration_sum    SimpleAggregateFunction(sum, Float64),
    duration_le     AggregateFunction(sumForEach, Array(UInt64)),
    ttft_count      SimpleAggregateFunction(sum, UInt64),
    ttft_sum        SimpleAggregateFunction(sum, Float64),
    ttft_le         AggregateFunction(sumForEach, Array(UInt64)),
    tpot_count      SimpleAggregateFunction(sum, UInt64),
    tpot_sum        SimpleAggregateFunction(sum, Float64),
    tpot_le         AggregateFunction(sumForEach, Array(UInt64)),
    tps_count       SimpleAggregateFunction(sum, UInt64),
    tps_sum         SimpleAggregateFunction(sum, Float64),
    tps_le          AggregateFunction(sumForEach, Array(UInt64))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, service, model, operation)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.prometheus_totals_mv TO {db}.prometheus_totals AS
SELECT
    tenant_id, service, model, operation,
    min(start_time) AS first_seen,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status_code = 2)) AS errors,
    toUInt64(sum(ifNull(tokens_input, 0))) AS tokens_input,
    toUInt64(sum(ifNull(tokens_output, 0))) AS tokens_output,
    sum(cost_usd) AS cost_usd,
    sum(gpu_seconds) AS gpu_seconds,
    sum(duration_ns / 1e9) AS duration_sum,
    sumForEachState(arrayMap(b -> toUInt64(duration_ns / 1e9 <= b),
        [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]))
        AS duration_le,
    toUInt64(countIf(ttft_s IS NOT NULL)) AS ttft_count,
    sum(ifNull(ttft_s, 0)) AS ttft_sum,
    sumForEachState(arrayMap(b -> toUInt64(ttft_s IS NOT NULL AND assumeNotNull(ttft_s) <= b),
        [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
         10.0])) AS ttft_le,
    toUInt64(countIf(tpot_s IS NOT NULL)) AS tpot_count,
    sum(ifNull(tpot_s, 0)) AS tpot_sum,
    sumForEachState(arrayMap(b -> toUInt64(tpot_s IS NOT NULL AND assumeNotNull(tpot_s) <= b),
        [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5])) AS tpot_le,
    toUInt64(countIf(tps IS NOT NULL)) AS tps_count,
    sum(ifNull(tps, 0)) AS tps_sum,
    sumForEachState(arrayMap(b -> toUInt64(tps IS NOT NULL AND assumeNotNull(tps) <= b),
        [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0]))
        AS tps_le
FROM
(
    SELECT *,
        if(ttft_ms IS NOT NULL, toFloat64(ttft_ms) / 1000,
           toFloat64OrNull(attributes['gen_ai.response.time_to_first_chunk'])) AS ttft_s,
        toFloat64OrNull(attributes['ai.llm.tpot_ms']) / 1000 AS tpot_s,
        if(tokens_per_second IS NOT NULL, toFloat64(tokens_per_second),
           if(ifNull(tokens_output, 0) > 0 AND duration_ns > 0,
              tokens_output / (duration_ns / 1e9), NULL)) AS tps
    FROM {db}.spans
    WHERE operation != ''
)
GROUP BY tenant_id, service, model, operation;
