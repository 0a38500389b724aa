-- One row per run of a warehouse job (dwh.observability): etl, metrics, events, ...
-- Written once when the run ends; run_id is a fresh UUID per run, so a row is never
-- updated and re-inserting it (a retried write) collapses into one row.
CREATE TABLE IF NOT EXISTS dds.fact_warehouse_runs
(
    run_id UUID,
    job LowCardinality(String),
    started_at DateTime64(6, 'UTC'),
    finished_at DateTime64(6, 'UTC'),
    status LowCardinality(String),
    rows UInt64,
    quarantined UInt64,
    replica_lag_seconds Nullable(Float64),
    message Nullable(String),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (started_at, run_id);
