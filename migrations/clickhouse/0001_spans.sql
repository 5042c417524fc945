-- Spans as received over OTLP, one row per span, scoped by tenant.
-- {db} and {ttl_days} are filled in by the migration runner (axonize-server migrate).
-- Ids are stored as raw bytes; the figures the API filters and aggregates on are columns, and
-- the attributes map holds every other attribute.
CREATE TABLE IF NOT EXISTS {db}.spans
(
    tenant_id         LowCardinality(String),
    start_time        DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_ns       UInt64 CODEC(T64, ZSTD(1)),
    trace_id          FixedString(16),
    span_id           FixedString(8),
    parent_span_id    FixedString(8),
    name              LowCardinality(String),
    kind              UInt8,
    service           LowCardinality(String),
    status_code       UInt8,
    status_message    String CODEC(ZSTD(3)),
    operation         LowCardinality(String),
    model             LowCardinality(String),
    provider          LowCardinality(String),
    tokens_input      Nullable(UInt32),
    tokens_output     Nullable(UInt32),
    ttft_ms           Nullable(Float32),
    tokens_per_second Nullable(Float32),
    gpu_uuids         Array(LowCardinality(String)),
    gpu_utilization   Nullable(Float32),
    gpu_seconds       Float64 CODEC(ZSTD(1)),
    cost_usd          Float64 CODEC(ZSTD(1)),
    attributes        Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    resource          Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    events            String CODEC(ZSTD(3)),
    INDEX trace_idx trace_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(start_time)
ORDER BY (tenant_id, start_time)
TTL toDateTime(start_time) + INTERVAL {ttl_days} DAY
SETTINGS index_granularity = 8192;
