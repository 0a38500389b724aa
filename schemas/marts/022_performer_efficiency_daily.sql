-- One row per (UTC day of attempt creation, performer_id) (dwh.marts.performer_efficiency_daily):
-- the per-day parts marts.performer_efficiency is aggregated from. A new table: the next
-- refresh of performer_efficiency finds its months missing and builds it whole.
CREATE TABLE IF NOT EXISTS marts.performer_efficiency_daily
(
    day Date,
    performer_id Nullable(UUID),
    deliveries_count UInt64,
    completed_count UInt64,
    priced_count UInt64,
    total_cost Decimal(38, 2),
    timed_count UInt64,
    delivery_micros Int64,
    durations Array(Float64),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, performer_id)
SETTINGS allow_nullable_key = 1;
