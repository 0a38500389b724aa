-- One row per (UTC day of stage creation, stage_name, status, message) of failed or canceled
-- stages (dwh.marts.failure_reasons_daily): the per-day parts marts.failure_reasons is aggregated
-- from. A new table: the next refresh of failure_reasons finds its months missing and builds
-- it whole. message may be NULL, hence a nullable sorting key.
CREATE TABLE IF NOT EXISTS marts.failure_reasons_daily
(
    day Date,
    stage_name LowCardinality(String),
    status LowCardinality(String),
    message Nullable(String),
    failures_count UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, stage_name, status, message)
SETTINGS allow_nullable_key = 1;
