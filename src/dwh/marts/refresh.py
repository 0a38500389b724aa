"""Refresh the marts from the DDS: each recomputed by SQL and swapped in by partition."""

from __future__ import annotations

from datetime import date

from clickhouse_connect.driver.client import Client

from dwh.dds._rebuild import rebuild
from dwh.failpoints import failpoint
from dwh.marts import (
    address_activity_daily,
    api_performance_hourly,
    delivery_sla_daily,
    events_hourly,
    failure_reasons,
    order_funnel_daily,
    performer_efficiency,
    popular_routes,
    revenue_daily,
    stage_latency,
    warehouse_runs,
)
from dwh.marts._mart import Mart

MARTS: tuple[Mart, ...] = (
    performer_efficiency.MART,
    popular_routes.MART,
    order_funnel_daily.MART,
    delivery_sla_daily.MART,
    revenue_daily.MART,
    address_activity_daily.MART,
    failure_reasons.MART,
    events_hourly.MART,
    stage_latency.MART,
    api_performance_hourly.MART,
    warehouse_runs.MART,
)


def refresh_marts(
    client: Client, *, sla_target_seconds: int, since: date | None = None
) -> dict[str, int]:
    """Recompute every mart from the DDS; return the rows written per mart.

    Daily marts are recomputed from ``since``'s month on (all days when ``None``); the others
    are whole-history aggregates and are always rebuilt. ``since`` must not be later than the
    date of :func:`dwh.dds.affected_since` for the rows loaded since the last refresh. Run
    :func:`dwh.dds.refresh_hourly` first if dashboards read both.
    """
    if not 0 < sla_target_seconds < 2**32:
        raise ValueError(f"sla_target_seconds must be a positive UInt32, got {sla_target_seconds}")
    written: dict[str, int] = {}
    for mart in MARTS:
        parameters = (
            {"sla_target_seconds": sla_target_seconds}
            if "{sla_target_seconds:" in mart.select
            else {}
        )
        written[mart.name] = rebuild(
            client,
            mart.table,
            mart.select,
            time_column=mart.day_column,
            since=since if mart.day_column else None,
            parameters=parameters,
        )
        failpoint("marts.refreshing")
    return written
