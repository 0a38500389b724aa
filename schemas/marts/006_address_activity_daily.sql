-- One row per UTC day of order registration (dwh.marts.address_activity_daily).
CREATE TABLE IF NOT EXISTS marts.address_activity_daily
(
    day Date,
    active_source_addresses UInt64,
    repeat_source_addresses UInt64,
    new_source_addresses UInt64,
    active_target_addresses UInt64,
    repeat_target_addresses UInt64,
    new_target_addresses UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(day)
ORDER BY day;
