-- GPU gauge series (gpu.utilization, gpu.memory.used, ...) as received over OTLP metrics.
CREATE TABLE IF NOT EXISTS {db}.gpu_metrics
(
    tenant_id   LowCardinality(String),
    time        DateTime64(9, 'UTC'),
    gpu_uuid    LowCardinality(String),
    metric      LowCardinality(String),
    value       Float64,
    node        LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (tenant_id, gpu_uuid, metric, time)
TTL toDateTime(time) + INTERVAL {ttl_days} DAY;
