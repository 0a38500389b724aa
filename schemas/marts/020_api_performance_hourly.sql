-- One row per (hour, prober operation) (dwh.marts.api_performance_hourly), from the prober's
-- Prometheus series in dds.fact_metrics.
CREATE TABLE IF NOT EXISTS marts.api_performance_hourly
(
    hour DateTime64(6, 'UTC'),
    operation LowCardinality(String),
    requests_count UInt64,
    success_count UInt64,
    failure_count UInt64,
    error_rate Nullable(Float64),
    requests_per_second Nullable(Float64),
    p50_duration_seconds Nullable(Float64),
    p95_duration_seconds Nullable(Float64),
    duration_samples UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, operation);
