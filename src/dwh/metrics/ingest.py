"""``dwh run metrics``: Prometheus ``query_range`` → ``dds.fact_metrics`` → the API mart.

For each configured expression, every step-aligned evaluation time after its watermark and at
least ``DWH_PROMETHEUS_DELAY_SECONDS`` old is fetched in bounded windows (at most
``DWH_PROMETHEUS_BATCH_SECONDS`` and Prometheus' 11,000 points per series each); each window
is inserted into ClickHouse and only then is the watermark moved past it. Evaluation times are
multiples of the step, so a window fetched again (a crash between insert and watermark, a
reset watermark) yields the same keys and collapses into the rows already there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx
from clickhouse_connect.driver.client import Client

from dwh.config import Settings
from dwh.dds._rebuild import new_version, rebuild
from dwh.engines.clickhouse import open_client
from dwh.engines.embedded import Dsns
from dwh.errors import ConfigError, DwhError
from dwh.marts import api_performance_hourly
from dwh.metrics._prometheus import MAX_POINTS_PER_SERIES, PrometheusQueryError, query_range
from dwh.metrics._state import read_watermarks, write_state
from dwh.metrics.fact_metrics import build_fact_metrics, load_fact_metrics
from dwh.observability import track_run

Progress = Callable[[str], None]

#: What ``dwh run metrics`` ingests when ``DWH_PROMETHEUS_QUERIES`` is empty: the prober's
#: series (DESIGN §1), the targets' process and Python metrics, target health, and the
#: warehouse's own metrics (scraped from the events consumer, pushed by batch runs).
DEFAULT_QUERIES: tuple[str, ...] = (
    "prober_create_orders_total",
    "prober_create_orders_success_total",
    "prober_create_orders_fail_total",
    "prober_create_orders_duration_seconds",
    "prober_cancel_orders_total",
    "prober_cancel_orders_success_total",
    "prober_cancel_orders_fail_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "python_gc_collections_total",
    "up",
    "dwh_events_consumed_total",
    "dwh_consumer_lag_messages",
    "dwh_dead_letters_total",
    "dwh_rows_loaded_total",
    "dwh_rows_quarantined_total",
)


@dataclass
class MetricsReport:
    """What one metrics run loaded: samples per expression, and the expressions that failed."""

    samples: dict[str, int] = field(default_factory=dict)
    windows: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Samples loaded in total."""
        return sum(self.samples.values())


def _require_url(settings: Settings) -> None:
    if not settings.prometheus_url:
        raise ConfigError(
            "DWH_PROMETHEUS_URL",
            "not set; point it at the Prometheus HTTP API, e.g. http://127.0.0.1:9090",
        )


def align(moment: datetime, step_seconds: int) -> datetime:
    """``moment`` rounded down to a multiple of the step since the epoch (UTC)."""
    seconds = int(moment.timestamp()) // step_seconds * step_seconds
    return datetime.fromtimestamp(seconds, UTC)


def plan_windows(
    start: datetime, end: datetime, *, step_seconds: int, batch_seconds: int
) -> list[tuple[datetime, datetime]]:
    """Consecutive ``[first, last]`` evaluation windows covering ``start``..``end``.

    Each window holds at most ``batch_seconds / step`` (and Prometheus' limit of) points, at
    least one; the next window starts one step after the previous one's last point.
    """
    if step_seconds <= 0:
        raise ValueError(f"step_seconds must be positive, got {step_seconds}")
    points = max(1, min(batch_seconds // step_seconds, MAX_POINTS_PER_SERIES))
    step = timedelta(seconds=step_seconds)
    windows: list[tuple[datetime, datetime]] = []
    first = start
    while first <= end:
        last = min(first + step * (points - 1), end)
        windows.append((first, last))
        first = last + step
    return windows


def run_metrics(
    settings: Settings,
    dsns: Dsns,
    progress: Progress | None = None,
    *,
    now: datetime | None = None,
) -> MetricsReport:
    """One metrics run: every configured expression from its watermark up to now minus the delay.

    Needs the ODS (``ods.load_state``) and ClickHouse migrated. Recorded as a ``metrics`` run
    (see :func:`dwh.observability.track_run`). An expression Prometheus rejects is reported
    and skipped; the run then fails after the others are loaded.
    """
    _require_url(settings)
    say = progress or (lambda _message: None)
    queries = list(dict.fromkeys(settings.prometheus_queries or DEFAULT_QUERIES))
    step = settings.prometheus_step_seconds
    moment = now or datetime.now(UTC)
    end = align(moment - timedelta(seconds=settings.prometheus_delay_seconds), step)
    first_ever = align(moment - timedelta(seconds=settings.prometheus_lookback_seconds), step)
    report = MetricsReport()
    started = time.perf_counter()
    with track_run("metrics", settings, clickhouse_dsn=dsns.clickhouse) as run:
        watermarks = read_watermarks(dsns.ods, queries)
        plans = {
            expr: plan_windows(
                first_ever if last is None else last + timedelta(seconds=step),
                end,
                step_seconds=step,
                batch_seconds=settings.prometheus_batch_seconds,
            )
            for expr, last in watermarks.items()
        }
        # chDB is held for the whole run: windows are small and there are few of them.
        client = open_client(dsns.clickhouse)
        try:
            with httpx.Client(timeout=settings.prometheus_timeout_seconds) as http:
                for expr, windows in plans.items():
                    try:
                        report.samples[expr] = _ingest(
                            http, client, settings, dsns.ods, expr, windows
                        )
                    except PrometheusQueryError as exc:
                        report.failed[expr] = str(exc)
                        write_state(dsns.ods, expr, watermark=None, rows=0, status="failed")
                        say(str(exc))
                        continue
                    report.windows += len(windows)
                    say(f"{expr}: {report.samples[expr]} samples up to {end:%Y-%m-%d %H:%M:%S}")
            loaded_from = [
                windows[0][0]
                for expr, windows in plans.items()
                if windows and expr not in report.failed
            ]
            if loaded_from:
                refresh_api_performance(client, since=min(loaded_from).date())
        finally:
            client.close()
        run.rows = report.rows
        report.seconds = time.perf_counter() - started
        if report.failed:
            raise DwhError(
                f"{len(report.failed)} of {len(queries)} metrics queries failed; first: "
                + next(iter(report.failed.values()))
            )
    return report


def _ingest(
    http: httpx.Client,
    client: Client,
    settings: Settings,
    ods_dsn: str,
    expr: str,
    windows: Sequence[tuple[datetime, datetime]],
) -> int:
    """Fetch and load each window of one expression, moving its watermark after each."""
    loaded = 0
    for first, last in windows:
        raw = query_range(
            http,
            settings.prometheus_url,
            expr,
            start=first,
            end=last,
            step_seconds=settings.prometheus_step_seconds,
        )
        frame = build_fact_metrics(raw.lazy()).collect()
        loaded += load_fact_metrics(client, frame, version=new_version())
        write_state(ods_dsn, expr, watermark=last, rows=loaded, status="succeeded")
    return loaded


def refresh_api_performance(client: Client, *, since: date | None = None) -> int:
    """Recompute ``marts.api_performance_hourly`` from ``since``'s month on; rows written."""
    mart = api_performance_hourly.MART
    return rebuild(client, mart.table, mart.select, time_column=mart.day_column, since=since)


def run_metrics_job(progress: Progress | None = None) -> MetricsReport:
    """One metrics run, through the Prefect flow ``metrics`` if ``PREFECT_API_URL`` is set."""
    import os

    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.etl import migrate
    from dwh.orchestration import load_flows_module

    settings = get_settings()
    _require_url(settings)  # before any engine starts
    if os.environ.get("PREFECT_API_URL"):
        report: MetricsReport = load_flows_module("metrics").metrics()
        return report
    dsns = start_embedded(settings)
    migrate(dsns)
    return run_metrics(settings, dsns, progress)
