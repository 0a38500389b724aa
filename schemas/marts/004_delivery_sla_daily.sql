-- One row per UTC day of release (completed deliveries) (dwh.marts.delivery_sla_daily).
CREATE TABLE IF NOT EXISTS marts.delivery_sla_daily
(
    day Date,
    sla_target_seconds UInt32,
    deliveries_count UInt64,
    p50_delivery_seconds Float64,
    p90_delivery_seconds Float64,
    p99_delivery_seconds Float64,
    within_target_count UInt64,
    share_within_target Float64,
    over_target_count UInt64,
    mean_over_target_seconds Nullable(Float64),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY day;
