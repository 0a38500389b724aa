"""``marts.delivery_sla_daily``: one row per UTC day of release, over completed deliveries.

A delivery counts on the day its performer was released (``released_at``), when its
``delivery_seconds`` (assigned → released) is known. With ``T = sla_target_seconds`` (stored
per row: the target the day was computed with):

- ``p50/p90/p99_delivery_seconds``: PostgreSQL ``percentile_disc`` semantics;
- ``within_target_count`` / ``share_within_target``: deliveries with ``delivery_seconds <= T``;
- ``over_target_count``: the others; ``mean_over_target_seconds``: mean of
  ``delivery_seconds - T`` over them (NULL when none is over target).
"""

from __future__ import annotations

from dwh.marts._mart import Mart
from dwh.marts._stats import mean_seconds, percentile_disc, sorted_values

_TARGET = "{sla_target_seconds:UInt32}"

MART = Mart(
    name="delivery_sla_daily",
    day_column="day",
    select=f"""
SELECT
    day,
    {{sla_target_seconds:UInt32}} AS sla_target_seconds,
    deliveries_count,
    assumeNotNull({percentile_disc("durations", 0.5)}) AS p50_delivery_seconds,
    assumeNotNull({percentile_disc("durations", 0.9)}) AS p90_delivery_seconds,
    assumeNotNull({percentile_disc("durations", 0.99)}) AS p99_delivery_seconds,
    within_target_count,
    within_target_count / deliveries_count AS share_within_target,
    deliveries_count - within_target_count AS over_target_count,
    mean_over_target_seconds
FROM
(
    SELECT
        toDate(released_at) AS day,
        count() AS deliveries_count,
        countIf(seconds <= {{sla_target_seconds:UInt32}}) AS within_target_count,
        {mean_seconds("seconds", where=f"seconds > {_TARGET}", minus=_TARGET)}
            AS mean_over_target_seconds,
        {sorted_values("seconds")} AS durations
    FROM
    (
        SELECT released_at, assumeNotNull(delivery_seconds) AS seconds
        FROM dds.fact_deliveries FINAL
        WHERE delivery_seconds IS NOT NULL AND released_at IS NOT NULL
    )
    GROUP BY day
)
""",
)
