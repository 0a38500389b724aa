"""Every panel's SQL runs on a demo-loaded warehouse and returns what its chart needs."""

from __future__ import annotations

import time

import polars as pl
import pytest

from dwh.dashboards import DASHBOARDS, Chart, Panel, Unit, expand_like_grafana, expand_time_filter
from dwh.engines.clickhouse import open_client, query_frame

from .conftest import DemoWarehouse

PANELS = [(d.slug, p) for d in DASHBOARDS for p in d.panels]


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or isinstance(dtype, pl.Decimal)


def _temporal(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Date | pl.Datetime)


def test_the_three_dashboards_are_defined() -> None:
    assert [d.title for d in DASHBOARDS] == ["Operational", "Technical", "Business"]
    assert len({d.uid for d in DASHBOARDS}) == 3
    for dashboard in DASHBOARDS:
        assert dashboard.panels, dashboard.uid
        for panel in dashboard.panels:
            assert panel.tables, f"{panel.key} reads no dds/marts table"


@pytest.mark.integration
def test_every_panel_returns_the_columns_its_chart_needs(demo_warehouse: DemoWarehouse) -> None:
    problems: list[str] = []
    client = open_client(demo_warehouse.chdb_dsn)
    try:
        for slug, panel in PANELS:
            where = f"{slug}.{panel.key}"
            try:
                frame = query_frame(client, expand_time_filter(panel.sql, days=30))
            except Exception as exc:
                problems.append(f"{where}: {str(exc).splitlines()[0]}")
                continue
            problems.extend(f"{where}: {p}" for p in _chart_problems(panel, frame))
    finally:
        client.close()
    assert problems == []


def _chart_problems(panel: Panel, frame: pl.DataFrame) -> list[str]:
    missing = [c for c in panel.columns if c not in frame.columns]
    if missing:
        return [f"missing columns {missing} (has {frame.columns})"]
    if frame.height == 0:
        return ["no rows on the demo warehouse"]
    out: list[str] = []
    if panel.chart is Chart.stat:
        if frame.height != 1:
            out.append(f"a stat needs one row, got {frame.height}")
        if frame.get_column(panel.y[0])[0] is None:
            out.append("the stat's value is NULL")
    if panel.chart is not Chart.table:
        out.extend(
            f"{y} is {frame.schema[y]}, not a number"
            for y in panel.y
            if not _numeric(frame.schema[y])
        )
    if panel.chart is Chart.timeseries and panel.x and not _temporal(frame.schema[panel.x]):
        out.append(f"time column {panel.x} is {frame.schema[panel.x]}")
    if panel.unit is Unit.ratio and panel.chart is not Chart.table:
        values = pl.concat([frame.get_column(y).cast(pl.Float64) for y in panel.y]).drop_nulls()
        if not values.is_between(0, 1).all():
            out.append("a ratio outside [0, 1]")
    return out


@pytest.mark.integration
def test_panels_run_as_grafana_sends_them(demo_warehouse: DemoWarehouse) -> None:
    """The same SQL with the plugin's own expansion of $__timeFilter."""
    end = int(time.time())
    client = open_client(demo_warehouse.chdb_dsn)
    try:
        for slug, panel in PANELS:
            sql = expand_like_grafana(panel.sql, start=end - 30 * 86_400, end=end)
            frame = query_frame(client, sql)
            assert set(panel.columns) <= set(frame.columns), f"{slug}.{panel.key}"
    finally:
        client.close()


def test_time_filter_expansions() -> None:
    sql = "SELECT 1 FROM t WHERE $__timeFilter(day) AND $__timeFilter( ts )"
    assert expand_time_filter(sql, days=7) == (
        "SELECT 1 FROM t WHERE day >= now() - INTERVAL 7 DAY AND ts >= now() - INTERVAL 7 DAY"
    )
    assert expand_like_grafana("WHERE $__timeFilter(hour)", start=10, end=20) == (
        "WHERE hour >= toDateTime(10) AND hour <= toDateTime(20)"
    )


def test_a_panel_is_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="needs an x column"):
        Panel(key="k", title="t", sql="SELECT 1", chart=Chart.bar, unit=Unit.number, y=("v",))
    with pytest.raises(ValueError, match="width"):
        Panel(key="k", title="t", sql="", chart=Chart.stat, unit=Unit.number, y=("v",), width=0)
