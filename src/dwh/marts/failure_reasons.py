"""``marts.failure_reasons``: one row per (``stage_name``, ``status``, ``message``) of stages
that ended ``failed`` or ``canceled``.

Stages are counted once each: the latest occurrence of a (pipeline, stage name), since
re-delivered triggers duplicate stage rows. ``share`` is the row's fraction of all such
failures; ``message`` NULL is its own reason. Aggregated from
:mod:`dwh.marts.failure_reasons_daily` (integer counts, so the sums are exact).
"""

from __future__ import annotations

from dwh.marts import failure_reasons_daily
from dwh.marts._mart import Mart

MART = Mart(
    name="failure_reasons",
    parts=failure_reasons_daily.MART,
    covers="dds.fact_stages",
    select="""
SELECT
    stage_name,
    status,
    message,
    failures_count,
    failures_count / sum(failures_count) OVER () AS share
FROM
(
    SELECT stage_name, status, message, sum(failures_count) AS failures_count
    FROM marts.failure_reasons_daily
    GROUP BY stage_name, status, message
    -- Each partition of the parts holds one version per key (swapped in whole): no FINAL.
    SETTINGS final = 0
)
""",
)
