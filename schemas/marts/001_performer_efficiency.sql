-- One row per performer with at least one delivery attempt (dwh.marts.performer_efficiency).
-- Marts are rebuilt from the DDS on every refresh and swapped in partition by partition, so
-- each holds exactly one version per key; ReplacingMergeTree(_version) keyed by the grain
-- keeps that true even if rows are ever inserted directly.
CREATE TABLE IF NOT EXISTS marts.performer_efficiency
(
    performer_id UUID,
    deliveries_count UInt64,
    completed_count UInt64,
    avg_cost Nullable(Float64),
    avg_delivery_seconds Nullable(Float64),
    p50_delivery_seconds Nullable(Float64),
    p90_delivery_seconds Nullable(Float64),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY performer_id;
