-- One row per (hour of event_timestamp, event_type) from fact_events. Refreshed like
-- hourly_orders_mv.
CREATE TABLE IF NOT EXISTS dds.hourly_events_mv
(
    hour DateTime64(6, 'UTC'),
    event_type LowCardinality(String),
    events_count UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, event_type);
