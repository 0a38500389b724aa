-- One row per order (dwh.dds.fact_orders).
-- ReplacingMergeTree collapses the versions of one order: every load inserts all its rows
-- with a new _version. The sorting key is the dedup key, so it must identify the row and be
-- immutable: registered_at never changes (and is also the partition key, which must not
-- change either or versions would land in different partitions and never collapse).
-- registered_at leads so that hourly/daily range scans read contiguous granules.
CREATE TABLE IF NOT EXISTS dds.fact_orders
(
    order_id UUID,
    source_address_id UUID,
    target_address_id UUID,
    extra Nullable(String),
    registered_at DateTime64(6, 'UTC'),
    pipelines_count UInt32,
    last_pipeline_id Nullable(UUID),
    last_status LowCardinality(Nullable(String)),
    is_delivered Bool,
    delivered_at Nullable(DateTime64(6, 'UTC')),
    is_deleted_in_source Bool,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(registered_at)
ORDER BY (registered_at, order_id);
