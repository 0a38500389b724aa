"""``marts.failure_reasons``: one row per (``stage_name``, ``status``, ``message``) of stages
that ended ``failed`` or ``canceled``.

Stages are counted once each: the latest occurrence of a (pipeline, stage name), since
re-delivered triggers duplicate stage rows. ``share`` is the row's fraction of all such
failures; ``message`` NULL is its own reason.
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="failure_reasons",
    select="""
SELECT
    name AS stage_name,
    status,
    message,
    count() AS failures_count,
    failures_count / sum(failures_count) OVER () AS share
FROM dds.fact_stages FINAL
WHERE is_latest AND status IN ('failed', 'canceled')
GROUP BY name, status, message
""",
)
