"""``marts.revenue_daily``: one row per (UTC day of pipeline ``created_at``, ``order_class``).

``order_class`` is the cost band of ``fact_deliveries`` (bands from
``DWH_ORDER_CLASS_BANDS``, upper bounds inclusive: with the default ``[500, 2000, 10000]``
``small`` ≤ 500 < ``medium`` ≤ 2000 < ``large`` ≤ 10000 < ``xlarge``; ``unpriced`` while no
cost is known). A delivery attempt stays on the day it was created, so a day's revenue grows as
its attempts complete:

- ``deliveries_count``: attempts; ``priced_count``: those with a cost;
  ``completed_count``: those completed;
- ``revenue``: sum of ``cost`` over completed attempts (0 when none);
- ``avg_cost``: mean of the known costs (NULL when none).
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="revenue_daily",
    day_column="day",
    select="""
SELECT
    toDate(created_at) AS day,
    order_class,
    count() AS deliveries_count,
    count(cost) AS priced_count,
    countIf(is_completed) AS completed_count,
    ifNull(sumIf(cost, is_completed), 0) AS revenue,
    avg(cost) AS avg_cost
FROM dds.fact_deliveries FINAL
GROUP BY day, order_class
""",
)
