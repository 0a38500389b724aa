"""``marts.popular_routes``: one row per route ``(source_address_id, target_address_id)``.

``orders_count`` counts every order on the route (deleted-in-source included: history).
``route_rank`` is SQL ``RANK()`` by ``orders_count`` descending: tied routes share a rank and
the next rank skips, so ``route_rank <= 10`` may return more than ten routes on ties.
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="popular_routes",
    select="""
SELECT
    source_address_id,
    target_address_id,
    orders_count,
    rank() OVER (ORDER BY orders_count DESC) AS route_rank,
    first_registered_at,
    last_registered_at
FROM
(
    SELECT
        source_address_id,
        target_address_id,
        count() AS orders_count,
        min(registered_at) AS first_registered_at,
        max(registered_at) AS last_registered_at
    FROM dds.fact_orders FINAL
    GROUP BY source_address_id, target_address_id
)
""",
)
