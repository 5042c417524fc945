-- Spans as received over OTLP, one row per span, scoped by tenant.
-- {db} and {ttl_days} are filled in by the migration runner (axonize-server migrate).
CREATE TABLE IF NOT EXISTS {db}.spans
(
    tenant_id         LowCardinality(String),
    start_time        DateTime64(9, 'UTC'),
    end_time          DateTime64(9, 'UTC'),
    duration_ns       UInt64,
    trace_id          FixedString(32),
    span_id           FixedString(16),
    parent_span_id    String,
    name              LowCardinality(String),
    kind              UInt8,
    service           LowCardinality(String),
    status_code       UInt8,
    status_message    String,
    operation         LowCardinality(String),
    model             LowCardinality(String),
    provider          LowCardinality(String),
    tokens_input      Nullable(UInt32),
    tokens_output     Nullable(UInt32),
    ttft_ms           Nullable(Float64),
    tokens_per_second Nullable(Float64),
    gpu_uuids         Array(LowCardinality(String)),
    gpu_utilization   Nullable(Float64),
    gpu_seconds       Float64,
    cost_usd          Float64,
    attributes        Map(LowCardinality(String), String),
    resource          Map(LowCardinality(String), String),
    events            String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toDate(start_time)
ORDER BY (tenant_id, start_time, trace_id)
TTL toDateTime(start_time) + INTERVAL {ttl_days} DAY
SETTINGS index_granularity = 8192;
