-- One row per tariff (config row) ever seen (dwh.dds.dim_configs). Keyed by config_id alone:
-- valid_to and is_current change when a newer tariff arrives.
CREATE TABLE IF NOT EXISTS dds.dim_configs
(
    config_id UUID,
    min_cost Float64,
    rubles_per_meter Float64,
    valid_from DateTime64(6, 'UTC'),
    valid_to Nullable(DateTime64(6, 'UTC')),
    is_current Bool,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY config_id;
