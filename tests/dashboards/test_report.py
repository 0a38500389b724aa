"""``dwh report``: one offline HTML file that headless Chromium draws without errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dwh.config import Settings
from dwh.dashboards import DASHBOARDS, Chart, Unit, write_report
from dwh.dashboards.report import figure
from dwh.errors import DwhError

from .browser import Browser
from .conftest import DemoWarehouse

#: Set to a path (e.g. docs/report.png) to keep the screenshot the browser test takes.
SCREENSHOT_ENV = "DWH_REPORT_SCREENSHOT"
PANEL_COUNT = sum(len(d.panels) for d in DASHBOARDS)

# Per panel: is there an SVG, how many drawn data elements, any message instead of a chart.
_INSPECT = """
Array.from(document.querySelectorAll('.chart[data-panel]')).map(el => ({
  panel: el.dataset.panel,
  chart: el.dataset.chart,
  rows: Number(el.dataset.rows),
  failed: el.hasAttribute('data-error'),
  svg: el.querySelectorAll('svg.main-svg').length,
  drawn: el.querySelectorAll(
    'g.trace.scatter path.js-line, g.trace.scatter path.point, g.trace.bars path,'
    + ' g.table g.column-cell, g.indicatorlayer text.number').length,
  message: Array.from(el.querySelectorAll('.annotation-text')).map(t => t.textContent).join(' '),
  width: el.getBoundingClientRect().width,
  height: el.getBoundingClientRect().height,
}))
"""


def _env(warehouse: DemoWarehouse, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_API"))}
    env.update(DWH_HOME=str(home), DWH_CLICKHOUSE_DSN=warehouse.chdb_dsn)
    return env


@pytest.fixture(scope="module")
def report_path(demo_warehouse: DemoWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the demo warehouse, written by the command a user runs."""
    home = tmp_path_factory.mktemp("report-home")
    result = subprocess.run(
        [sys.executable, "-m", "dwh", "report", "--days", "30"],
        env=_env(demo_warehouse, home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", "no panel may fail on the demo warehouse"
    path = home / "report.html"
    assert f"report: {path}" in " ".join(result.stdout.split()), result.stdout
    return path


@pytest.mark.integration
def test_report_is_one_self_contained_file(report_path: Path) -> None:
    page = report_path.read_text(encoding="utf-8")
    # Nothing is fetched: no external script, style sheet, image or font.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert "Plotly.newPlot" in page
    assert page.count('class="chart"') == PANEL_COUNT
    for dashboard in DASHBOARDS:
        assert f'<section id="{dashboard.slug}">' in page


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    from metrics.system import require_program

    binary = require_program("chromium", "chromium")
    opened = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield opened
    opened.close()


@pytest.mark.integration
def test_chromium_draws_every_panel_without_errors(
    report_path: Path, browser: Browser, tmp_path: Path
) -> None:
    browser.open(report_path.as_uri())
    browser.wait_until("document.body.dataset.drawn === document.body.dataset.panels")

    assert browser.errors == []
    # Offline: the page asked for nothing but itself (plotly.js and the data are inline).
    assert browser.requests == [report_path.as_uri()]
    panels: list[dict[str, Any]] = browser.evaluate(_INSPECT)
    assert len(panels) == PANEL_COUNT
    for panel in panels:
        where = panel["panel"]
        assert not panel["failed"], where
        assert panel["rows"] > 0, f"{where}: no rows on the demo warehouse"
        assert panel["svg"] > 0, f"{where}: not drawn"
        assert panel["drawn"] > 0, f"{where}: drawn without data ({panel['message']!r})"
        assert panel["message"] == "", f"{where}: {panel['message']}"
        assert panel["width"] > 200, where
        assert panel["height"] > 100, where

    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "report.png")
    browser.screenshot(shot)
    assert shot.stat().st_size > 50_000


def test_empty_and_failed_panels_say_so_instead_of_drawing() -> None:
    panel = next(p for d in DASHBOARDS for p in d.panels if p.chart is Chart.timeseries)
    empty = figure(panel, pl.DataFrame({c: [] for c in panel.columns}))
    failed = figure(panel, None, "Code: 60. Unknown table")

    assert empty.data == ()
    assert empty.layout.annotations[0].text == "No data in this range"
    assert failed.layout.annotations[0].text == "query failed: Code: 60. Unknown table"


def test_long_durations_read_in_hours() -> None:
    panel = next(
        p for d in DASHBOARDS for p in d.panels if p.chart is Chart.stat and p.unit is Unit.seconds
    )
    fig = figure(panel, pl.DataFrame({panel.y[0]: [7_200.0 * 3]}))

    assert fig.data[0].value == pytest.approx(6.0)
    assert fig.data[0].number.suffix == " h"


def test_large_counts_are_written_in_full() -> None:
    panel = next(
        p for d in DASHBOARDS for p in d.panels if p.chart is Chart.stat and p.unit is Unit.number
    )
    fig = figure(panel, pl.DataFrame({panel.y[0]: [20_000]}))

    assert fig.data[0].number.valueformat == ",.0f"


def test_an_empty_warehouse_says_what_to_run(chdb_dsn: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, clickhouse_dsn=chdb_dsn)

    with pytest.raises(DwhError, match=r"DWH_CLICKHOUSE_DSN: .* run `dwh migrate`"):
        write_report(settings)

    assert not (tmp_path / "report.html").exists()
