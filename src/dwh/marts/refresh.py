"""Refresh the marts from the DDS: each recomputed by SQL and swapped in by partition."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import polars as pl
from clickhouse_connect.driver.client import Client

from dwh.dds._rebuild import month_number, rebuild
from dwh.dds.hourly import HOURLY_TABLES, utc_day
from dwh.dds.impact import compare_versions, read_inputs
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


def _check_target(sla_target_seconds: int) -> None:
    if not 0 < sla_target_seconds < 2**32:
        raise ValueError(f"sla_target_seconds must be a positive UInt32, got {sla_target_seconds}")


def _rebuild_mart(client: Client, mart: Mart, since: date | None, sla_target_seconds: int) -> int:
    parameters = (
        {"sla_target_seconds": sla_target_seconds} if "{sla_target_seconds:" in mart.select else {}
    )
    return rebuild(
        client,
        mart.table,
        mart.select,
        time_column=mart.day_column,
        since=since if mart.day_column else None,
        parameters=parameters,
    )


def _months(client: Client, table: str) -> set[int]:
    """The monthly partitions (``toYYYYMM``) holding rows of ``table``."""
    rows = client.query(
        f"SELECT DISTINCT _partition_id FROM {table} SETTINGS final = 0"
    ).result_rows
    return {int(row[0]) for row in rows}


def _parts_since(client: Client, mart: Mart, since: date | None) -> date | None:
    """The day to refresh ``mart``'s parts from: ``since``, or the first day of an earlier
    month of the facts that the parts lack (a new parts table, or a first build that crashed
    before swapping in every month): their rows there may never have been computed."""
    if since is None or mart.parts is None or mart.covers is None:
        return since
    missing = _months(client, mart.covers) - _months(client, mart.parts.table)
    first = min(missing, default=None)
    if first is None or first >= month_number(since):
        return since
    return date(first // 100, first % 100, 1)


def _refresh_mart(client: Client, mart: Mart, since: date | None, sla_target_seconds: int) -> int:
    """Recompute ``mart`` from ``since`` on (whole when it has no day column); return its rows.

    A mart with parts has its parts refreshed from ``since`` and is then recomputed whole
    from them."""
    if mart.parts is None:
        return _rebuild_mart(client, mart, since, sla_target_seconds)
    parts_since = _parts_since(client, mart, since)
    _rebuild_mart(client, mart.parts, parts_since, sla_target_seconds)
    return _rebuild_mart(client, mart, None, sla_target_seconds)


def refresh_marts(
    client: Client, *, sla_target_seconds: int, since: date | None = None
) -> dict[str, int]:
    """Recompute every mart from the DDS; return the rows written per mart.

    Daily marts, and the daily parts some whole-history marts are aggregated from, are
    recomputed from ``since`` on (all days when ``None``); the whole-history marts are always
    recomputed whole. ``since`` must not be later than the date of
    :func:`dwh.dds.affected_since` for the rows loaded since the last refresh. Run
    :func:`dwh.dds.refresh_hourly` first if dashboards read both.
    """
    _check_target(sla_target_seconds)
    written: dict[str, int] = {}
    for mart in MARTS:
        written[mart.name] = _refresh_mart(client, mart, since, sla_target_seconds)
        failpoint("marts.refreshing")
    return written


Plan = dict[str, datetime | None]
"""Derived tables (``db.name``) to recompute, each from a time on (``None``: whole)."""


def derived_selects() -> dict[str, str]:
    """Every derived table — hourly aggregates, then marts — with the SELECT that reads the DDS
    for it (a mart's parts' SELECT when it has parts: the parts read the facts for it)."""
    return dict(HOURLY_TABLES) | {mart.table: mart.reads for mart in MARTS}


def refresh_plan(
    client: Client, facts: Mapping[str, pl.DataFrame], *, whole: bool
) -> tuple[dict[str, pl.DataFrame], Plan]:
    """The fact rows worth loading and the derived tables loading them changes, and from when.

    Call it before loading. With ``whole`` (a full reload) every row is loaded and every table
    reading one of the facts is recomputed whole; otherwise only rows that differ from their
    stored version are loaded, and only tables whose input columns differ are recomputed, from
    the earliest differing row on (see :mod:`dwh.dds.impact`).
    """
    inputs = read_inputs(client, derived_selects())
    loaded = {name: frame for name, frame in facts.items() if frame.height}
    if whole:
        plan: Plan = {t: None for t, reads in inputs.items() if reads.keys() & loaded.keys()}
        return loaded, plan
    impact = compare_versions(client, loaded, inputs)
    return {n: f for n, f in impact.changed.items() if f.height}, impact.plan


def refresh_planned(
    client: Client, plan: Mapping[str, datetime | None], *, sla_target_seconds: int
) -> dict[str, int]:
    """Recompute the tables of ``plan`` (hourly ones first); return the rows written per table."""
    _check_target(sla_target_seconds)
    written: dict[str, int] = {}
    for table, select in HOURLY_TABLES.items():
        if table in plan:
            day = utc_day(plan[table])
            written[table] = rebuild(client, table, select, time_column="hour", since=day)
    for mart in MARTS:
        if mart.table in plan:
            day = utc_day(plan[mart.table])
            written[mart.table] = _refresh_mart(client, mart, day, sla_target_seconds)
            failpoint("marts.refreshing")
    return written
