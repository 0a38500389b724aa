"""``marts.failure_reasons_daily``: one row per (UTC day of the stage's ``created_at``,
``stage_name``, ``status``, ``message``) of stages that ended ``failed`` or ``canceled``,
``message`` NULL as its own value.

The per-day parts :mod:`dwh.marts.failure_reasons` is aggregated from, so that a refresh
recomputes only the days whose stages changed. ``failures_count`` counts stages once each, by
their latest occurrence of a (pipeline, stage name), like the mart.
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="failure_reasons_daily",
    day_column="day",
    select="""
SELECT
    toDate(created_at) AS day,
    name AS stage_name,
    status,
    message,
    count() AS failures_count
FROM
(
    -- The newest stored version of each stage that failed or was canceled in some version:
    -- every stage counted is among them (its newest version is one), and reading only them
    -- is much cheaper than FINAL over every stage. stage_id alone identifies the row: name and
    -- created_at, the rest of the sorting key, never change.
    SELECT stage_id, name, created_at, status, message, is_latest
    FROM dds.fact_stages
    -- created_at is in the sorting key and never changes, so this prunes every version alike.
    WHERE created_at >= {since:Date}
        AND stage_id IN (
            SELECT stage_id FROM dds.fact_stages
            WHERE created_at >= {since:Date} AND status IN ('failed', 'canceled')
        )
    ORDER BY _version DESC
    LIMIT 1 BY stage_id
    SETTINGS final = 0
)
WHERE is_latest AND status IN ('failed', 'canceled')
GROUP BY day, name, status, message
""",
)
