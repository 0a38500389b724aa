-- One row per pipeline, i.e. delivery attempt (dwh.dds.fact_deliveries).
-- Dedup key = grain: (created_at, pipeline_id); created_at is immutable and partitions the
-- table. performer_id, status and costs change in place, so they stay out of the key.
CREATE TABLE IF NOT EXISTS dds.fact_deliveries
(
    pipeline_id UUID,
    order_id UUID,
    attempt UInt32,
    source_address_id UUID,
    target_address_id UUID,
    status LowCardinality(String),
    message Nullable(String),
    cost Nullable(Decimal(12, 2)),
    performer_id Nullable(UUID),
    registered_at DateTime64(6, 'UTC'),
    created_at DateTime64(6, 'UTC'),
    started_at Nullable(DateTime64(6, 'UTC')),
    estimated_at Nullable(DateTime64(6, 'UTC')),
    assigned_at Nullable(DateTime64(6, 'UTC')),
    released_at Nullable(DateTime64(6, 'UTC')),
    finished_at Nullable(DateTime64(6, 'UTC')),
    estimate_seconds Nullable(Float64),
    assign_seconds Nullable(Float64),
    delivery_seconds Nullable(Float64),
    total_seconds Nullable(Float64),
    is_completed Bool,
    order_class LowCardinality(String),
    is_deleted_in_source Bool,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (created_at, pipeline_id);
