"""``dwh report``: the dashboards as one self-contained HTML file (Plotly, inlined; offline).

Every panel's SQL runs against the configured warehouse (the embedded chDB by default) with
``$__timeFilter`` set to the last ``days`` days; the results become Plotly figures drawn in the
page by the inlined plotly.js, so the file opens anywhere without a network. A panel whose
query fails is drawn as a message, and reported back to the caller, rather than losing the
rest of the report.
"""

from __future__ import annotations

import html
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]  # plotly ships no types
import plotly.io as pio  # type: ignore[import-untyped]
import polars as pl
from clickhouse_connect.driver.client import Client
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from dwh.config import Settings
from dwh.dashboards._model import Chart, Dashboard, Panel, Unit, expand_time_filter
from dwh.engines.clickhouse import open_client, query_frame
from dwh.errors import DwhError, mask_secrets

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
REPORT_NAME = "report.html"

#: Plotly axis and hover formats per unit (d3-format).
_AXIS: dict[Unit, dict[str, str]] = {
    Unit.number: {"tickformat": "~s", "hoverformat": ",.4~g"},
    Unit.seconds: {"ticksuffix": " s", "tickformat": ",~g", "hoverformat": ",.1f"},
    Unit.ratio: {"tickformat": ".0%", "hoverformat": ".1%"},
    Unit.rubles: {"ticksuffix": " ₽", "tickformat": "~s", "hoverformat": ",.2f"},
    Unit.per_second: {"ticksuffix": "/s", "tickformat": "~g", "hoverformat": ",.4~g"},
    Unit.bytes: {"ticksuffix": "B", "tickformat": "~s", "hoverformat": ".3~s"},
}
_COLORS = ("#3366cc", "#dc7633", "#2e9e6a", "#a23b72", "#8a8a2e", "#5b5ea6", "#c0392b", "#138d90")


@dataclass
class PanelResult:
    """A panel's rows, or why there are none."""

    dashboard: Dashboard
    panel: Panel
    frame: pl.DataFrame | None = None
    error: str | None = None

    @property
    def element_id(self) -> str:
        """The id of the panel's chart element in the page."""
        return f"chart-{self.dashboard.slug}-{self.panel.key}"

    @property
    def rows(self) -> int:
        """Rows the query returned (0 when it failed)."""
        return 0 if self.frame is None else self.frame.height


@dataclass
class Report:
    """A written report: where it is and what each panel got."""

    path: Path
    panels: list[PanelResult] = field(default_factory=list)

    @property
    def failed(self) -> list[PanelResult]:
        """Panels whose query failed."""
        return [p for p in self.panels if p.error is not None]


def query_panels(
    client: Client, dashboards: tuple[Dashboard, ...], *, days: int = DEFAULT_DAYS
) -> list[PanelResult]:
    """Run every panel's SQL (time filter = last ``days`` days); failures are kept per panel."""
    results: list[PanelResult] = []
    for dashboard in dashboards:
        for panel in dashboard.panels:
            result = PanelResult(dashboard, panel)
            try:
                result.frame = query_frame(client, expand_time_filter(panel.sql, days=days))
            except Exception as exc:
                text = str(exc).strip()
                result.error = mask_secrets(text.splitlines()[0] if text else type(exc).__name__)
                log.warning("panel %s.%s failed: %s", dashboard.slug, panel.key, result.error)
            results.append(result)
    return results


def _plain(value: object) -> object:
    """JSON-friendly scalars: Decimal → float, NaN → None, times as naive UTC (the report's
    axes are in UTC, and plotly.js does not read offsets)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _values(frame: pl.DataFrame, column: str) -> list[Any]:
    return [_plain(v) for v in frame.get_column(column).to_list()]


def _message(figure: go.Figure, text: str) -> None:
    figure.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14}
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)


def _stat_number(unit: Unit, value: float) -> tuple[float, dict[str, str]]:
    """A stat's value and Plotly number format; long durations in minutes or hours."""
    if unit is Unit.seconds:
        for size, suffix in ((86_400, " d"), (3_600, " h"), (60, " min")):
            if abs(value) >= 2 * size:
                return value / size, {"valueformat": ",.1f", "suffix": suffix}
        return value, {"valueformat": ",.1f", "suffix": " s"}
    # Large numbers in full with separators (",.4~g" would write 20,000 as "2e+4").
    plain = ",.0f" if abs(value) >= 1000 else ",.4~g"
    formats = {
        Unit.ratio: {"valueformat": ".1%"},
        Unit.rubles: {"valueformat": ",.0f", "suffix": " ₽"},
        Unit.per_second: {"valueformat": plain, "suffix": "/s"},
        Unit.bytes: {"valueformat": ".3~s", "suffix": "B"},
    }
    return value, formats.get(unit, {"valueformat": plain})


def _cell(value: object) -> str:
    value = _plain(value)
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _bar_width(x: list[Any]) -> float | None:
    """Width (ms) of the bars of a time axis with a single bucket, which Plotly would draw
    1 ms wide: a day, hour or minute, whichever the timestamp is the start of."""
    if len(set(x)) != 1 or not isinstance(x[0], datetime | date):
        return None
    moment = x[0]
    if not isinstance(moment, datetime) or moment.hour == moment.minute == moment.second == 0:
        return 86_400_000.0
    return 3_600_000.0 if moment.minute == moment.second == 0 else 60_000.0


def _series_traces(panel: Panel, frame: pl.DataFrame) -> list[go.Bar | go.Scatter]:
    """One trace per value column, or per ``series`` value for long-format rows."""
    assert panel.x is not None  # Panel checks this for time series and bars
    groups: list[tuple[str, pl.DataFrame, str]] = []
    if panel.series is not None:
        keys = frame.get_column(panel.series).fill_null("(none)").cast(pl.String)
        frame = frame.with_columns(keys.alias(panel.series))
        for name in sorted(set(keys.to_list())):
            part = frame.filter(pl.col(panel.series) == name)
            groups.extend((str(name), part, y) for y in panel.y)
    else:
        groups = [(y, frame, y) for y in panel.y]
    traces: list[go.Bar | go.Scatter] = []
    for number, (name, part, y) in enumerate(groups):
        color = _COLORS[number % len(_COLORS)]
        x, values = _values(part, panel.x), _values(part, y)
        if panel.chart is Chart.bar or panel.bars:
            width = _bar_width(x) if panel.chart is Chart.timeseries else None
            traces.append(go.Bar(x=x, y=values, name=name, width=width, marker={"color": color}))
        else:
            mode = "lines+markers" if len(x) < 30 else "lines"
            traces.append(
                go.Scatter(x=x, y=values, name=name, mode=mode, line={"color": color, "width": 2})
            )
    return traces


#: The narrowest x range of a time series: data from a few minutes is not drawn as one line.
_MIN_SPAN = timedelta(days=1)


def _time_range(
    frame: pl.DataFrame, panel: Panel, window: tuple[datetime, datetime]
) -> list[object]:
    """The x range of a time-filtered series: up to the report's end, from its window's start
    or, when the data is younger, from the data's start (but at least a day), so that a few
    hours of metrics are not a sliver at the edge of a month."""
    assert panel.x is not None
    start, end = window
    first = frame.get_column(panel.x).min()
    if isinstance(first, datetime | date):
        moment = first if isinstance(first, datetime) else datetime(*first.timetuple()[:3])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        start = max(start, min(moment, end - _MIN_SPAN))
    return [_plain(start), _plain(end)]


def _table(panel: Panel, frame: pl.DataFrame) -> go.Table:
    cells = [[_cell(v) for v in frame.get_column(c)] for c in panel.y]
    # Columns as wide as their longest text (within bounds), so headers stay readable.
    widths = [
        min(40, max(8, len(c), *(len(v) for v in column)))
        for c, column in zip(panel.y, cells, strict=True)
    ]
    return go.Table(
        columnwidth=widths,
        header={"values": list(panel.y), "fill_color": "#eef1f6", "align": "left"},
        cells={"values": cells, "align": "left", "fill_color": "#ffffff"},
    )


def figure(
    panel: Panel,
    frame: pl.DataFrame | None,
    error: str | None = None,
    *,
    window: tuple[datetime, datetime] | None = None,
) -> go.Figure:
    """The Plotly figure of one panel (a message instead of a chart for no rows or an error).

    ``window`` is the report's time range: the x axis of a time series that filters on it.
    """
    fig = go.Figure()
    rows = 0 if frame is None else frame.height
    height = {Chart.stat: 150, Chart.table: min(640, 80 + 28 * rows)}.get(panel.chart, 320)
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 56, "r": 16, "t": 12, "b": 40},
        legend={"orientation": "h", "y": -0.18},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        hovermode="x unified" if panel.chart is Chart.timeseries else "closest",
    )
    if error is not None or frame is None:
        _message(fig, f"query failed: {error}")
        return fig
    if panel.chart is Chart.table:
        fig.add_trace(_table(panel, frame))
        fig.update_layout(margin={"l": 8, "r": 8, "t": 8, "b": 8})
        if frame.height == 0:
            fig.add_annotation(text="No rows", x=0.5, y=0.4, showarrow=False, xref="paper")
        return fig
    if frame.height == 0 or (
        panel.chart is Chart.stat and _plain(frame.get_column(panel.y[0])[0]) is None
    ):
        _message(fig, "No data in this range")
        return fig
    if panel.chart is Chart.stat:
        raw = _plain(frame.get_column(panel.y[0])[0])
        value, number = _stat_number(panel.unit, float(raw))  # type: ignore[arg-type]
        fig.add_trace(go.Indicator(mode="number", value=value, number=number))
        fig.update_layout(margin={"l": 8, "r": 8, "t": 8, "b": 8})
        return fig
    for trace in _series_traces(panel, frame):
        fig.add_trace(trace)
    fig.update_layout(barmode="stack" if panel.stacked else "group")
    if window is not None and panel.chart is Chart.timeseries and "$__timeFilter" in panel.sql:
        fig.update_xaxes(range=_time_range(frame, panel, window))
    if panel.log_axis:
        fig.update_yaxes(**_AXIS[panel.unit], type="log")
    else:
        fig.update_yaxes(**_AXIS[panel.unit], rangemode="tozero")
    return fig


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f4f6f9; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c8cfdc; font-size: 13px; }
nav a { color: #9fc3ff; margin-right: 16px; text-decoration: none; font-weight: 600; }
section { padding: 8px 28px 20px; }
section > h2 { margin: 18px 0 2px; font-size: 19px; }
section > p { margin: 0 0 12px; color: #5a6478; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(24, 1fr); gap: 12px; }
.panel { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 10px 12px;
         margin: 0; min-width: 0; }
.panel figcaption { font-weight: 600; font-size: 14px; }
.panel .description { color: #6a7386; font-size: 12px; margin: 2px 0 4px; min-height: 1em; }
.panel.failed { border-color: #c0392b; }
@media (max-width: 900px) { .panel { grid-column: span 24 !important; } }
"""

_DRAW = """
(function () {
  const figures = JSON.parse(document.getElementById("dwh-figures").textContent);
  const ids = Object.keys(figures);
  let drawn = 0;
  document.body.dataset.panels = String(ids.length);
  for (const id of ids) {
    Plotly.newPlot(id, figures[id].data, figures[id].layout,
                   {displayModeBar: false, responsive: true})
      .then(function () { drawn += 1; document.body.dataset.drawn = String(drawn); })
      .catch(function (err) { console.error("panel " + id + " not drawn: " + err); });
  }
})();
"""


def _script_safe(text: str) -> str:
    """Text that cannot close the ``<script>`` element it is embedded in."""
    return text.replace("</", "<\\/")


def render_report(
    results: list[PanelResult],
    dashboards: tuple[Dashboard, ...],
    *,
    days: int,
    generated_at: datetime,
    source: str,
) -> str:
    """The report page: every panel's figure, plotly.js inlined."""
    window = (generated_at - timedelta(days=days), generated_at)
    by_dashboard: dict[str, list[PanelResult]] = {}
    for result in results:
        by_dashboard.setdefault(result.dashboard.uid, []).append(result)
    figures: list[str] = []
    sections: list[str] = []
    for dashboard in dashboards:
        cells: list[str] = []
        for result in by_dashboard.get(dashboard.uid, []):
            panel = result.panel
            fig = figure(panel, result.frame, result.error, window=window)
            figures.append(f"{json.dumps(result.element_id)}: {pio.to_json(fig, validate=False)}")
            classes = "panel failed" if result.error else "panel"
            cells.append(
                f'<figure class="{classes}" style="grid-column: span {panel.width}">'
                f"<figcaption>{html.escape(panel.title)}</figcaption>"
                f'<p class="description">{html.escape(panel.description)}</p>'
                f'<div class="chart" id="{result.element_id}"'
                f' data-panel="{dashboard.slug}.{panel.key}" data-chart="{panel.chart}"'
                f' data-rows="{result.rows}"{" data-error" if result.error else ""}></div>'
                "</figure>"
            )
        sections.append(
            f'<section id="{dashboard.slug}"><h2>{html.escape(dashboard.title)}</h2>'
            f"<p>{html.escape(dashboard.description)}</p>"
            f'<div class="grid">{"".join(cells)}</div></section>'
        )
    nav = " ".join(f'<a href="#{d.slug}">{html.escape(d.title)}</a>' for d in dashboards)
    figures_json = "{" + ",".join(figures) + "}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>dwh · Sorting Hat warehouse report</title>"
        f"<style>{_STYLE}</style>"
        f"<script>{_script_safe(get_plotlyjs())}</script></head><body>"
        "<header><h1>Sorting Hat warehouse</h1>"
        f"<p>Generated {generated_at:%Y-%m-%d %H:%M:%S} UTC from {html.escape(source)};"
        f" time-ranged panels show the last {days} days.</p>"
        f"<nav>{nav}</nav></header>"
        f"{''.join(sections)}"
        f'<script type="application/json" id="dwh-figures">{_script_safe(figures_json)}</script>'
        f"<script>{_DRAW}</script></body></html>\n"
    )


def write_report(
    settings: Settings,
    path: Path | None = None,
    *,
    days: int = DEFAULT_DAYS,
    dashboards: tuple[Dashboard, ...] | None = None,
) -> Report:
    """Query the warehouse and write the report to ``path`` (default ``DWH_HOME/report.html``).

    chDB is held only while the queries run, not while the page is rendered.
    """
    from dwh.dashboards import DASHBOARDS

    chosen = DASHBOARDS if dashboards is None else dashboards
    target = path or settings.home / REPORT_NAME
    dsn = settings.effective_clickhouse_dsn
    client = open_client(dsn)
    try:
        tables = client.query(
            "SELECT count() FROM system.tables WHERE database IN ('dds', 'marts')"
        ).result_rows[0][0]
        if not tables:
            raise DwhError(
                "DWH_CLICKHOUSE_DSN: the warehouse has no dds/marts tables yet;"
                " run `dwh migrate` and a load (or `dwh demo`) first"
            )
        results = query_panels(client, chosen, days=days)
    finally:
        client.close()
    source = "the embedded warehouse" if dsn.startswith("chdb://") else mask_secrets(dsn)
    page = render_report(results, chosen, days=days, generated_at=datetime.now(UTC), source=source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return Report(path=target.absolute(), panels=results)
