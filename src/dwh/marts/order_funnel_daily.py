"""``marts.order_funnel_daily``: one row per UTC day of order registration (a cohort funnel).

Each count is of orders registered that day, by what any of their delivery attempts reached
so far (so a day's numbers grow as its orders progress):

- ``registered_count``: all orders;
- ``started_count``: some attempt has ``started_at`` (``start_pipeline`` ran);
- ``estimated_count``: some attempt has ``estimated_at`` (a cost was estimated);
- ``assigned_count``: some attempt has ``assigned_at`` (a performer was assigned);
- ``delivered_count``: ``fact_orders.is_delivered`` (some attempt has ``released_at``);
- ``canceled_count`` / ``failed_count``: the order's last attempt ended ``canceled`` /
  ``failed`` (an order restarted after a failure counts by its restart's outcome);
- ``conversion``: ``delivered_count / registered_count``.

Within one attempt each step implies the previous one, so the funnel never widens.
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="order_funnel_daily",
    day_column="day",
    select="""
SELECT
    toDate(o.registered_at) AS day,
    count() AS registered_count,
    countIf(d.has_started) AS started_count,
    countIf(d.has_estimate) AS estimated_count,
    countIf(d.has_performer) AS assigned_count,
    countIf(o.is_delivered) AS delivered_count,
    countIf(o.last_status = 'canceled') AS canceled_count,
    countIf(o.last_status = 'failed') AS failed_count,
    delivered_count / registered_count AS conversion
FROM dds.fact_orders AS o FINAL
LEFT JOIN
(
    SELECT
        order_id,
        max(started_at IS NOT NULL) AS has_started,
        max(estimated_at IS NOT NULL) AS has_estimate,
        max(assigned_at IS NOT NULL) AS has_performer
    FROM dds.fact_deliveries FINAL
    GROUP BY order_id
) AS d ON d.order_id = o.order_id
GROUP BY day
""",
)
