"""``marts.performer_efficiency``: one row per performer with at least one delivery attempt.

- ``deliveries_count``: attempts currently assigned to the performer (``fact_deliveries``);
  ``completed_count``: those completed (``is_completed``).
- ``avg_cost``: mean of the known costs of those attempts.
- ``avg/p50/p90_delivery_seconds``: over the attempts with a ``delivery_seconds`` (assigned →
  released, so completed ones); percentiles as PostgreSQL ``percentile_disc``. NULL if none.

Aggregated from :mod:`dwh.marts.performer_efficiency_daily` (sums of its counts and sums, its
durations concatenated), which gives the same values as reading every attempt.
"""

from __future__ import annotations

from dwh.marts import performer_efficiency_daily
from dwh.marts._mart import Mart
from dwh.marts._stats import percentile_disc

MART = Mart(
    name="performer_efficiency",
    parts=performer_efficiency_daily.MART,
    covers="dds.fact_deliveries",
    select=f"""
SELECT
    assumeNotNull(performer_id) AS performer_id,
    deliveries_count,
    completed_count,
    -- Bit for bit what avg() of the Decimal costs gives: their exact sum over the count.
    if(priced_count = 0, NULL, toFloat64(total_cost) / priced_count) AS avg_cost,
    if(timed_count = 0, NULL, delivery_micros / timed_count / 1000000) AS avg_delivery_seconds,
    {percentile_disc("durations", 0.5)} AS p50_delivery_seconds,
    {percentile_disc("durations", 0.9)} AS p90_delivery_seconds
FROM
(
    SELECT
        -- No alias may shadow performer_id here: ClickHouse would apply it in WHERE too.
        performer_id,
        sum(deliveries_count) AS deliveries_count,
        sum(completed_count) AS completed_count,
        sum(priced_count) AS priced_count,
        sum(total_cost) AS total_cost,
        sum(timed_count) AS timed_count,
        sum(delivery_micros) AS delivery_micros,
        arraySort(groupArrayArray(durations)) AS durations
    FROM marts.performer_efficiency_daily
    WHERE performer_id IS NOT NULL
    GROUP BY performer_id
    -- Each partition of the parts holds one version per key (swapped in whole): no FINAL.
    SETTINGS final = 0
)
""",
)
