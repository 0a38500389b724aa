"""What a dashboard is: panels declared once (title, SQL, chart, unit), rendered twice.

A panel's SQL is ClickHouse SQL against ``dds.*`` and ``marts.*`` and may restrict rows to the
dashboard's time range with the Grafana macro ``$__timeFilter(column)``: Grafana's ClickHouse
plugin expands it to the time picker's range, the HTML report to its own window
(:func:`expand_time_filter`). Everything else is plain SQL, so a panel runs the same
everywhere. Tables that keep row versions (``fact_*``) are read with ``FINAL``: a Grafana user's
profile may not set ``final = 1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Chart(StrEnum):
    """How a panel draws its rows."""

    #: ``x`` is a time column; one line (or bar series) per ``y`` column, or per ``series``
    #: value when the rows are in long format.
    timeseries = "timeseries"
    #: ``x`` is a category column; one bar per row and ``y`` column.
    bar = "bar"
    #: One number: ``y[0]`` of the first row.
    stat = "stat"
    #: The rows as they are; ``y`` lists the columns shown.
    table = "table"


class Unit(StrEnum):
    """Units of a panel's values, spelled as Grafana's unit ids."""

    number = "short"
    seconds = "s"
    ratio = "percentunit"
    rubles = "currencyRUB"
    per_second = "reqps"
    bytes = "bytes"


_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)")
_TABLE = re.compile(r"\b(dds|marts)\.([a-z_][a-z0-9_]*)\b")
_MERGE = re.compile(r"\bmerge\(\s*'(dds|marts)'")


@dataclass(frozen=True)
class Panel:
    """One chart of a dashboard; ``key`` is stable (HTML ids, tests), unique per dashboard."""

    key: str
    title: str
    sql: str
    chart: Chart
    unit: Unit
    y: tuple[str, ...]
    x: str | None = None
    series: str | None = None
    description: str = ""
    #: Draw a time series as bars (stacked when ``stacked``) instead of lines.
    bars: bool = False
    stacked: bool = False
    #: A logarithmic value axis, for values spanning orders of magnitude.
    log_axis: bool = False
    #: Width in Grafana grid columns (of 24).
    width: int = 12

    def __post_init__(self) -> None:
        if self.chart in (Chart.timeseries, Chart.bar) and self.x is None:
            raise ValueError(f"panel {self.key}: a {self.chart} needs an x column")
        if not self.y:
            raise ValueError(f"panel {self.key}: no value column")
        if not 1 <= self.width <= 24:
            raise ValueError(f"panel {self.key}: width must be 1..24, got {self.width}")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the chart reads from the query's result."""
        named = (self.x, self.series, *self.y)
        return tuple(dict.fromkeys(c for c in named if c is not None))

    @property
    def tables(self) -> frozenset[str]:
        """The ``dds.*`` / ``marts.*`` tables the SQL reads (``marts.*``: all, via ``merge``)."""
        named = {f"{db}.{name}" for db, name in _TABLE.findall(self.sql)}
        return frozenset(named | {f"{db}.*" for db in _MERGE.findall(self.sql)})


@dataclass(frozen=True)
class Dashboard:
    """A titled, ordered set of panels; ``uid`` is Grafana's fixed dashboard uid."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]

    def __post_init__(self) -> None:
        keys = [panel.key for panel in self.panels]
        if len(set(keys)) != len(keys):
            raise ValueError(f"dashboard {self.uid}: panel keys repeat")

    @property
    def slug(self) -> str:
        """File and anchor name: the uid without the ``dwh-`` prefix."""
        return self.uid.removeprefix("dwh-")


def expand_time_filter(sql: str, *, days: int) -> str:
    """``sql`` with each ``$__timeFilter(column)`` replaced by the last ``days`` days."""
    return _TIME_FILTER.sub(lambda m: f"{m[1]} >= now() - INTERVAL {int(days)} DAY", sql)


def expand_like_grafana(sql: str, *, start: int, end: int) -> str:
    """``sql`` as Grafana's ClickHouse plugin sends it for a range of Unix seconds."""
    return _TIME_FILTER.sub(
        lambda m: f"{m[1]} >= toDateTime({int(start)}) AND {m[1]} <= toDateTime({int(end)})", sql
    )
