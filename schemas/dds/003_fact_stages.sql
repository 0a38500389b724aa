-- One row per stage row of the source, duplicates included (dwh.dds.fact_stages).
-- Dedup key = grain: stage_id, prefixed by the immutable name and created_at so that
-- per-stage latency and failure queries read one contiguous range per stage name.
CREATE TABLE IF NOT EXISTS dds.fact_stages
(
    stage_id UUID,
    pipeline_id UUID,
    order_id UUID,
    name LowCardinality(String),
    status LowCardinality(String),
    message Nullable(String),
    created_at DateTime64(6, 'UTC'),
    started_at Nullable(DateTime64(6, 'UTC')),
    finished_at Nullable(DateTime64(6, 'UTC')),
    duration_seconds Nullable(Float64),
    occurrence UInt32,
    is_latest Bool,
    is_deleted_in_source Bool,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (name, created_at, stage_id);
