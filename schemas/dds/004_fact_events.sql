-- One row per Kafka record (dwh.dds.fact_events). A record is identified by
-- (topic, partition, offset); a replayed record carries the same identity and timestamp,
-- so re-inserting it collapses into one row. event_timestamp leads for time-range scans.
CREATE TABLE IF NOT EXISTS dds.fact_events
(
    event_id UUID,
    event_type LowCardinality(String),
    topic LowCardinality(String),
    `partition` Int32,
    `offset` Int64,
    event_timestamp DateTime64(6, 'UTC'),
    pipeline_id Nullable(UUID),
    stage_name LowCardinality(Nullable(String)),
    stage_id Nullable(UUID),
    status LowCardinality(Nullable(String)),
    message Nullable(String),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(event_timestamp)
ORDER BY (event_timestamp, topic, `partition`, `offset`);
