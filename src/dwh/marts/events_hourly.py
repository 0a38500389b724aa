"""``marts.events_hourly``: one row per (hour of ``event_timestamp``, ``event_type``,
``stage_name``, ``status``) of the platform's Kafka records.

- ``stage_name``: the trigger's stage, or for a result the name of the stage row it reports
  on (through ``dds.fact_events_resolved``); NULL while that row is not in the DDS.
- ``status``: a result's status; NULL for triggers.
- ``events_count``: records; ``pipelines_count``: distinct pipelines among them (resolved);
  ``unresolved_count``: records whose pipeline or stage row the DDS does not know yet.

Redelivered records are one row in ``fact_events`` (read with ``FINAL``), so counts are exact.
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="events_hourly",
    select="""
SELECT
    toDateTime64(toStartOfHour(event_timestamp), 6, 'UTC') AS hour,
    event_type,
    resolved_stage_name AS stage_name,
    status,
    count() AS events_count,
    uniqExact(resolved_pipeline_id) AS pipelines_count,
    countIf(NOT is_resolved) AS unresolved_count
FROM dds.fact_events_resolved
WHERE toDate(event_timestamp) >= {since:Date} AND toDate(event_timestamp) < {until:Date}
GROUP BY hour, event_type, stage_name, status
""",
    day_column="hour",
)
