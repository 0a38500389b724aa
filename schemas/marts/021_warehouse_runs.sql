-- One row per run of a warehouse job (dwh.marts.warehouse_runs), from dds.fact_warehouse_runs.
CREATE TABLE IF NOT EXISTS marts.warehouse_runs
(
    run_id UUID,
    job LowCardinality(String),
    started_at DateTime64(6, 'UTC'),
    finished_at DateTime64(6, 'UTC'),
    status LowCardinality(String),
    rows UInt64,
    quarantined UInt64,
    seconds Float64,
    rows_per_second Nullable(Float64),
    replica_lag_seconds Nullable(Float64),
    message Nullable(String),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (started_at, run_id);
