"""``marts.performer_efficiency``: one row per performer with at least one delivery attempt.

- ``deliveries_count``: attempts currently assigned to the performer (``fact_deliveries``);
  ``completed_count``: those completed (``is_completed``).
- ``avg_cost``: mean of the known costs of those attempts.
- ``avg/p50/p90_delivery_seconds``: over the attempts with a ``delivery_seconds`` (assigned →
  released, so completed ones); percentiles as PostgreSQL ``percentile_disc``. NULL if none.
"""

from __future__ import annotations

from dwh.marts._mart import Mart
from dwh.marts._stats import mean_seconds, percentile_disc, sorted_values

MART = Mart(
    name="performer_efficiency",
    select=f"""
SELECT
    assumeNotNull(performer_id) AS performer_id,
    deliveries_count,
    completed_count,
    avg_cost,
    avg_delivery_seconds,
    {percentile_disc("durations", 0.5)} AS p50_delivery_seconds,
    {percentile_disc("durations", 0.9)} AS p90_delivery_seconds
FROM
(
    SELECT
        -- No alias may shadow performer_id here: ClickHouse would apply it in WHERE too.
        performer_id,
        count() AS deliveries_count,
        countIf(is_completed) AS completed_count,
        avg(cost) AS avg_cost,
        {mean_seconds("delivery_seconds")} AS avg_delivery_seconds,
        {sorted_values("delivery_seconds")} AS durations
    FROM dds.fact_deliveries FINAL
    WHERE performer_id IS NOT NULL
    GROUP BY performer_id
)
""",
)
