-- One row per Prometheus sample (dwh.metrics): a PromQL expression evaluated by query_range
-- at step-aligned times. metric is the series' __name__ (or the expression itself when the
-- result has none, e.g. rate(...)); labels are the other labels, sorted by key.
-- Dedup key = grain: (metric, labels, ts). A re-fetched window (a rerun, or a replay after a
-- crash before the watermark was committed) carries the same keys and collapses into one row.
-- ts is immutable and partitions the table; retention is opt-in (no TTL by default).
CREATE TABLE IF NOT EXISTS dds.fact_metrics
(
    metric LowCardinality(String),
    labels Map(LowCardinality(String), String),
    ts DateTime64(6, 'UTC'),
    value Float64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(ts)
ORDER BY (metric, labels, ts);
