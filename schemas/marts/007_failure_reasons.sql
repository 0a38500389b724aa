-- One row per (stage_name, status, message) of failed or canceled stages
-- (dwh.marts.failure_reasons). message may be NULL, hence a nullable sorting key.
CREATE TABLE IF NOT EXISTS marts.failure_reasons
(
    stage_name LowCardinality(String),
    status LowCardinality(String),
    message Nullable(String),
    failures_count UInt64,
    share Float64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY (stage_name, status, message)
SETTINGS allow_nullable_key = 1;
