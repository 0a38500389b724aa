"""``marts.address_activity_daily``: one row per UTC day with orders registered.

The source has no customer id, so addresses stand in for customers, each role on its own:

- ``active_source_addresses``: distinct source addresses of the day's orders;
- ``repeat_source_addresses``: those also a source address of an order registered on an
  earlier day; ``new_source_addresses`` = active - repeat;
- the same three for target addresses.
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="address_activity_daily",
    day_column="day",
    select="""
WITH
    sightings AS
    (
        SELECT 'source' AS role, source_address_id AS address_id, toDate(registered_at) AS day
        FROM dds.fact_orders FINAL
        UNION ALL
        SELECT 'target' AS role, target_address_id AS address_id, toDate(registered_at) AS day
        FROM dds.fact_orders FINAL
    ),
    firsts AS
    (
        SELECT role, address_id, min(day) AS first_day
        FROM sightings
        GROUP BY role, address_id
    )
SELECT
    s.day AS day,
    uniqExactIf(s.address_id, s.role = 'source') AS active_source_addresses,
    uniqExactIf(s.address_id, s.role = 'source' AND f.first_day < s.day)
        AS repeat_source_addresses,
    active_source_addresses - repeat_source_addresses AS new_source_addresses,
    uniqExactIf(s.address_id, s.role = 'target') AS active_target_addresses,
    uniqExactIf(s.address_id, s.role = 'target' AND f.first_day < s.day)
        AS repeat_target_addresses,
    active_target_addresses - repeat_target_addresses AS new_target_addresses
FROM sightings AS s
INNER JOIN firsts AS f ON f.role = s.role AND f.address_id = s.address_id
GROUP BY s.day
""",
)
