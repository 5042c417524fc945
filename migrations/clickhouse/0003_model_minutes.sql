-- Per tenant, model and minute: what the analytics overview reads instead of every span.
CREATE TABLE IF NOT EXISTS {db}.model_minutes
(
    tenant_id          LowCardinality(String),
    model              LowCardinality(String),
    minute             DateTime('UTC'),
    requests           SimpleAggregateFunction(sum, UInt64),
    errors             SimpleAggregateFunction(sum, UInt64),
    latency_ms         AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_ms            AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    tps_sum            SimpleAggregateFunction(sum, Float64),
    tps_count          SimpleAggregateFunction(sum, UInt64),
    tokens_input       SimpleAggregateFunction(sum, UInt64),
    tokens_output      SimpleAggregateFunction(sum, UInt64),
    gpu_util_sum       SimpleAggregateFunction(sum, Float64),
    gpu_util_count     SimpleAggregateFunction(sum, UInt64),
    gpu_seconds        SimpleAggregateFunction(sum, Float64),
    cost_usd           SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (tenant_id, model, minute)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.model_minutes_mv TO {db}.model_minutes AS
SELECT
    tenant_id,
    model,
    toStartOfMinute(start_time) AS minute,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status_code = 2)) AS errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(duration_ns / 1e6) AS latency_ms,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(toFloat64(assumeNotNull(ttft_ms)),
                                             ttft_ms IS NOT NULL) AS ttft_ms,
    sum(toFloat64(ifNull(tokens_per_second, 0))) AS tps_sum,
    toUInt64(countIf(tokens_per_second IS NOT NULL)) AS tps_count,
    toUInt64(sum(ifNull(tokens_input, 0))) AS tokens_input,
    toUInt64(sum(ifNull(tokens_output, 0))) AS tokens_output,
    sum(toFloat64(ifNull(gpu_utilization, 0))) AS gpu_util_sum,
    toUInt64(countIf(gpu_utilization IS NOT NULL)) AS gpu_util_count,
    sum(gpu_seconds) AS gpu_seconds,
    sum(cost_usd) AS cost_usd
FROM {db}.spans
WHERE model != ''
GROUP BY tenant_id, model, minute;
