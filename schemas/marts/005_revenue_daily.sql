-- One row per (UTC day of pipeline created_at, order_class) (dwh.marts.revenue_daily).
CREATE TABLE IF NOT EXISTS marts.revenue_daily
(
    day Date,
    order_class LowCardinality(String),
    deliveries_count UInt64,
    priced_count UInt64,
    completed_count UInt64,
    revenue Decimal(18, 2),
    avg_cost Nullable(Float64),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, order_class);
