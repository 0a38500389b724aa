-- One row per hour of registered_at (dwh.dds.hourly). A finished table, not an
-- insert-triggered MV: refresh_hourly recomputes whole monthly partitions from
-- fact_orders FINAL and swaps them in (REPLACE PARTITION), so re-loaded fact versions can
-- never be double-counted and a partition never holds two versions of an hour.
CREATE TABLE IF NOT EXISTS dds.hourly_orders_mv
(
    hour DateTime64(6, 'UTC'),
    orders_count UInt64,
    unique_source_addresses UInt64,
    unique_target_addresses UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(hour)
ORDER BY hour;
