"""``marts.stage_latency``: one row per (day of the result, ``stage_name``): how long stages
take from their trigger to their external result, from the Kafka records.

A result names a stage row; ``dds.fact_stages`` gives its pipeline and stage name, and its
trigger is the latest trigger of that (pipeline, stage name) at or before the result: when a
restarted consumer re-delivers a trigger, the newest stage row is the one that gets the
result, and it was created by the newest trigger.

- ``results_count``: results whose stage row is in the DDS (others wait for the ETL);
  ``matched_count``: those with a trigger; ``succeeded/failed/canceled_count`` by status.
- ``avg/p50/p90_latency_seconds``: trigger → result over the matched results; percentiles
  as PostgreSQL ``percentile_disc``, the mean exact (integer microseconds). NULL if none.
"""

from __future__ import annotations

from dwh.marts._mart import Mart
from dwh.marts._stats import mean_seconds, percentile_disc, sorted_values

MART = Mart(
    name="stage_latency",
    select=f"""
SELECT
    day,
    stage_name,
    results_count,
    matched_count,
    succeeded_count,
    failed_count,
    canceled_count,
    avg_latency_seconds,
    {percentile_disc("latencies", 0.5)} AS p50_latency_seconds,
    {percentile_disc("latencies", 0.9)} AS p90_latency_seconds
FROM
(
    SELECT
        toDate(result_at) AS day,
        name AS stage_name,
        count() AS results_count,
        countIf(latency_seconds IS NOT NULL) AS matched_count,
        countIf(status = 'succeeded') AS succeeded_count,
        countIf(status = 'failed') AS failed_count,
        countIf(status = 'canceled') AS canceled_count,
        {mean_seconds("latency_seconds")} AS avg_latency_seconds,
        {sorted_values("latency_seconds")} AS latencies
    FROM
    (
        SELECT
            r.result_at AS result_at,
            r.status AS status,
            r.name AS name,
            -- An unmatched ASOF LEFT JOIN row has the defaults: has_trigger = 0.
            if(
                t.has_trigger = 1,
                dateDiff('microsecond', t.triggered_at, r.result_at) / 1000000,
                NULL
            ) AS latency_seconds
        FROM
        (
            SELECT e.event_timestamp AS result_at, e.status AS status,
                   s.pipeline_id AS pipeline_id, s.name AS name
            FROM dds.fact_events AS e FINAL
            INNER JOIN
            (
                SELECT stage_id, pipeline_id, toString(name) AS name FROM dds.fact_stages FINAL
            ) AS s ON s.stage_id = e.stage_id
            WHERE e.event_type = 'result' AND toDate(e.event_timestamp) >= {{since:Date}}
                AND toDate(e.event_timestamp) < {{until:Date}}
        ) AS r
        ASOF LEFT JOIN
        (
            SELECT assumeNotNull(pipeline_id) AS pipeline_id,
                   toString(assumeNotNull(stage_name)) AS name,
                   event_timestamp AS triggered_at,
                   toUInt8(1) AS has_trigger
            FROM dds.fact_events FINAL
            -- Only the pipelines of the results in scope: their triggers may be older.
            WHERE event_type = 'trigger' AND pipeline_id IN (
                SELECT stage_pipelines.pipeline_id FROM dds.fact_stages AS stage_pipelines FINAL
                WHERE stage_pipelines.stage_id IN (
                    SELECT stage_id FROM dds.fact_events FINAL
                    WHERE event_type = 'result' AND toDate(event_timestamp) >= {{since:Date}}
                        AND toDate(event_timestamp) < {{until:Date}}
                )
            )
        ) AS t
        ON t.pipeline_id = r.pipeline_id AND t.name = r.name AND t.triggered_at <= r.result_at
    )
    GROUP BY day, stage_name
)
""",
    day_column="day",
)
