-- One row per (hour of event_timestamp, event_type, stage_name, status) of the Kafka records
-- (dwh.marts.events_hourly). stage_name is resolved for results through dds.fact_stages and
-- NULL while unresolved; status is NULL for triggers: nullable sorting key.
CREATE TABLE IF NOT EXISTS marts.events_hourly
(
    hour DateTime64(6, 'UTC'),
    event_type LowCardinality(String),
    stage_name LowCardinality(Nullable(String)),
    status LowCardinality(Nullable(String)),
    events_count UInt64,
    pipelines_count UInt64,
    unresolved_count UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, event_type, stage_name, status)
SETTINGS allow_nullable_key = 1;
