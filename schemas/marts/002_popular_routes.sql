-- One row per route (source_address_id, target_address_id) (dwh.marts.popular_routes).
CREATE TABLE IF NOT EXISTS marts.popular_routes
(
    source_address_id UUID,
    target_address_id UUID,
    orders_count UInt64,
    route_rank UInt64,
    first_registered_at DateTime64(6, 'UTC'),
    last_registered_at DateTime64(6, 'UTC'),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY (source_address_id, target_address_id);
