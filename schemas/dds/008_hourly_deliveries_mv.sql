-- One row per (hour of pipeline created_at, performer_id); NULL performer_id is its own group
-- (attempts not yet assigned), hence a nullable sorting key. Refreshed like hourly_orders_mv.
CREATE TABLE IF NOT EXISTS dds.hourly_deliveries_mv
(
    hour DateTime64(6, 'UTC'),
    performer_id Nullable(UUID),
    deliveries_count UInt64,
    priced_count UInt64,
    total_cost Decimal(18, 2),
    avg_cost Nullable(Float64),
    completed_count UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, performer_id)
SETTINGS allow_nullable_key = 1;
