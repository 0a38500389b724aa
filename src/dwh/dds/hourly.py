"""The ``dds.hourly_*_mv`` tables: hourly aggregates recomputed from the facts.

Not insert-triggered materialized views: those would add every re-loaded fact version again.
:func:`refresh_hourly` recomputes the hours from ``since``'s day on from the facts read with
``FINAL`` and swaps the monthly partitions in, so the tables always equal a recomputation
from the facts. Rows deleted in the source are counted: the warehouse
keeps history. Each SELECT reads the facts from ``{since:Date}`` on (the rebuild binds it), so
recomputing recent hours reads recent facts only.

Grains:

- ``hourly_orders_mv``: hour of ``registered_at``; distinct source/target addresses are exact.
- ``hourly_deliveries_mv``: (hour of pipeline ``created_at``, ``performer_id``), NULL performer
  as its own group. ``total_cost`` sums the known costs (0 when none), ``avg_cost`` averages
  them (NULL when none), ``priced_count`` counts them.
- ``hourly_events_mv``: (hour of ``event_timestamp``, ``event_type``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from clickhouse_connect.driver.client import Client

from dwh.dds._rebuild import rebuild

HOURLY_ORDERS_SQL = """
SELECT
    toDateTime64(toStartOfHour(registered_at), 6, 'UTC') AS hour,
    count() AS orders_count,
    uniqExact(source_address_id) AS unique_source_addresses,
    uniqExact(target_address_id) AS unique_target_addresses
FROM dds.fact_orders FINAL
WHERE toDate(registered_at) >= {since:Date}
GROUP BY hour
"""

HOURLY_DELIVERIES_SQL = """
SELECT
    toDateTime64(toStartOfHour(created_at), 6, 'UTC') AS hour,
    performer_id,
    count() AS deliveries_count,
    count(cost) AS priced_count,
    ifNull(sum(cost), 0) AS total_cost,
    avg(cost) AS avg_cost,
    countIf(is_completed) AS completed_count
FROM dds.fact_deliveries FINAL
WHERE toDate(created_at) >= {since:Date}
GROUP BY hour, performer_id
"""

HOURLY_EVENTS_SQL = """
SELECT
    toDateTime64(toStartOfHour(event_timestamp), 6, 'UTC') AS hour,
    event_type,
    count() AS events_count
FROM dds.fact_events FINAL
WHERE toDate(event_timestamp) >= {since:Date} AND toDate(event_timestamp) < {until:Date}
GROUP BY hour, event_type
"""

HOURLY_TABLES: dict[str, str] = {
    "dds.hourly_orders_mv": HOURLY_ORDERS_SQL,
    "dds.hourly_deliveries_mv": HOURLY_DELIVERIES_SQL,
    "dds.hourly_events_mv": HOURLY_EVENTS_SQL,
}


def utc_day(moment: datetime | None) -> date | None:
    """The UTC day of ``moment`` (a naive datetime is taken as UTC already)."""
    if moment is None:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo is not None else moment).date()


def refresh_hourly(client: Client, *, since: datetime | None = None) -> dict[str, int]:
    """Recompute the hourly tables for every hour ≥ ``since`` (all hours when ``None``).

    The recomputation covers whole days from ``since``'s day (UTC) on.
    ``since`` must not be later than the earliest ``registered_at``/``created_at``/
    ``event_timestamp`` of any fact row changed since the last refresh (see
    :func:`dwh.dds.affected_since`). Returns the rows written per table.
    """
    first_day = utc_day(since)
    return {
        table: rebuild(client, table, select, time_column="hour", since=first_day)
        for table, select in HOURLY_TABLES.items()
    }
