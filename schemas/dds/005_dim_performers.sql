-- One row per performer seen (dwh.dds.dim_performers). Small: no partitions.
CREATE TABLE IF NOT EXISTS dds.dim_performers
(
    performer_id UUID,
    first_seen_at DateTime64(6, 'UTC'),
    last_seen_at DateTime64(6, 'UTC'),
    deliveries_count UInt32,
    completed_count UInt32,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY performer_id;
