"""``marts.performer_efficiency_daily``: one row per (UTC day of the attempt's ``created_at``,
``performer_id``), NULL performer as its own group.

The per-day parts :mod:`dwh.marts.performer_efficiency` is aggregated from, so that a refresh
recomputes only the days whose attempts changed. Each measure adds up exactly across days:

- ``deliveries_count``, ``completed_count`` (``is_completed``), ``priced_count`` (known costs)
  and ``total_cost`` (their sum, 0 when none);
- ``timed_count``: attempts with a ``delivery_seconds``; ``delivery_micros``: the sum of those
  durations in integer microseconds (exact and order-free, see :mod:`dwh.marts._stats`);
- ``durations``: those durations themselves (unsorted), for exact percentiles over all days.
"""

from __future__ import annotations

from dwh.marts._mart import Mart
from dwh.marts._stats import micros_of

MART = Mart(
    name="performer_efficiency_daily",
    day_column="day",
    select=f"""
SELECT
    toDate(created_at) AS day,
    performer_id,
    count() AS deliveries_count,
    countIf(is_completed) AS completed_count,
    count(cost) AS priced_count,
    ifNull(sum(cost), 0) AS total_cost,
    count(delivery_seconds) AS timed_count,
    ifNull(sum({micros_of("delivery_seconds")}), 0) AS delivery_micros,
    groupArray(delivery_seconds) AS durations
FROM dds.fact_deliveries FINAL
-- created_at is in the sorting key and never changes, so this prunes before FINAL merges.
WHERE created_at >= {{since:Date}}
GROUP BY day, performer_id
""",
)
