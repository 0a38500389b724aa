-- One row per UTC day of order registration (dwh.marts.order_funnel_daily).
CREATE TABLE IF NOT EXISTS marts.order_funnel_daily
(
    day Date,
    registered_count UInt64,
    started_count UInt64,
    estimated_count UInt64,
    assigned_count UInt64,
    delivered_count UInt64,
    canceled_count UInt64,
    failed_count UInt64,
    conversion Float64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY day;
