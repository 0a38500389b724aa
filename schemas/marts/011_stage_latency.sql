-- One row per (day of the result, stage_name) of stage results (dwh.marts.stage_latency):
-- latency from a stage's trigger to its result, from the Kafka records.
CREATE TABLE IF NOT EXISTS marts.stage_latency
(
    day Date,
    stage_name LowCardinality(String),
    results_count UInt64,
    matched_count UInt64,
    succeeded_count UInt64,
    failed_count UInt64,
    canceled_count UInt64,
    avg_latency_seconds Nullable(Float64),
    p50_latency_seconds Nullable(Float64),
    p90_latency_seconds Nullable(Float64),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, stage_name);
