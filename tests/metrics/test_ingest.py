"""``run_metrics`` against a real Prometheus scraping the test exporter."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest

from dwh.config import Settings
from dwh.engines.clickhouse import open_client, query_frame
from dwh.engines.embedded import Dsns
from dwh.errors import ConfigError, DwhError
from dwh.metrics import DEFAULT_QUERIES, run_metrics, state_key

from .conftest import SCRAPE_JOB, Exporter, wait_for_history, wait_for_value
from .system import free_port

pytestmark = pytest.mark.integration

PROBER = [q for q in DEFAULT_QUERIES if q.startswith("prober_")]
QUERIES = [*PROBER, "process_resident_memory_bytes", "up"]


def _settings(home: Path, dsns: Dsns, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "ods_dsn": dsns.ods,
        "clickhouse_dsn": dsns.clickhouse,
        "prometheus_url": url,
        "prometheus_queries": QUERIES,
        "prometheus_step_seconds": 1,
        "prometheus_delay_seconds": 1,
        "prometheus_lookback_seconds": 300,
        # Small windows, so that one run needs several requests (the bounded batches).
        "prometheus_batch_seconds": 20,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _query(dsns: Dsns, sql: str) -> pl.DataFrame:
    client = open_client(dsns.clickhouse)
    try:
        return query_frame(client, sql)
    finally:
        client.close()


def _series(dsns: Dsns) -> pl.DataFrame:
    """Every sample, labels as a sorted 'k=v,...' string."""
    return _query(
        dsns,
        "SELECT metric, arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v),"
        " mapKeys(labels), mapValues(labels)), ',') AS labels, ts, value"
        " FROM dds.fact_metrics FINAL ORDER BY metric, labels, ts",
    )


def _state(dsn: str) -> dict[str, tuple[str | None, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, cursor, last_run_status FROM ods.load_state"
        ).fetchall()
    return {str(name): (cursor, str(status)) for name, cursor, status in rows}


def _percentile_disc(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def test_exported_values_arrive_incrementally_and_once(
    exporter: Exporter, prometheus: str, warehouse: Dsns, home: Path
) -> None:
    wait_for_value(prometheus, "prober_create_orders_total", 10)
    wait_for_history(prometheus, "prober_create_orders_total", 6)
    settings = _settings(home, warehouse, prometheus)

    first = run_metrics(settings, warehouse)

    assert first.failed == {}
    assert first.windows > len(QUERIES), "a 300 s look-back in 20 s windows takes several"
    samples = _series(warehouse)
    instance = f"instance={exporter.address},job={SCRAPE_JOB}"
    exported = {
        "prober_create_orders_total": 10.0,
        "prober_create_orders_success_total": 9.0,
        "prober_create_orders_fail_total": 1.0,
        "prober_create_orders_duration_seconds": 0.25,
        "prober_cancel_orders_total": 4.0,
        "prober_cancel_orders_success_total": 3.0,
        "prober_cancel_orders_fail_total": 1.0,
        "up": 1.0,
    }
    for metric, value in exported.items():
        rows = samples.filter(pl.col("metric") == metric)
        assert rows.height >= 3, metric
        assert set(rows.get_column("labels")) == {instance}, metric
        assert set(rows.get_column("value")) == {value}, metric
    memory = samples.filter(pl.col("metric") == "process_resident_memory_bytes")
    assert memory.height >= 3
    assert memory.get_column("value").min() > 0  # type: ignore[operator]
    # Evaluation times are step-aligned and contiguous: one sample per second per series.
    stamps = samples.filter(pl.col("metric") == "prober_create_orders_total").get_column("ts")
    assert all(t.microsecond == 0 for t in stamps)
    assert (stamps.diff().drop_nulls() == timedelta(seconds=1)).all()
    state = _state(warehouse.ods)
    first_marks = {expr: state[state_key(expr)] for expr in QUERIES}
    assert {status for _, status in first_marks.values()} == {"succeeded"}
    assert max(stamps) == datetime.fromisoformat(
        first_marks["prober_create_orders_total"][0] or ""
    ).astimezone(UTC)

    # The prober creates 5 more orders, all successful, and gets slower.
    exporter.create_total.inc(5)
    exporter.create_success.inc(5)
    exporter.create_duration.set(0.75)
    wait_for_value(prometheus, "prober_create_orders_total", 15)
    time.sleep(3)  # a few scrapes of the new value, older than the run's delay

    second = run_metrics(settings, warehouse)

    assert second.failed == {}
    after = _series(warehouse)
    created = after.filter(pl.col("metric") == "prober_create_orders_total")
    new = created.filter(pl.col("ts") > max(stamps))
    assert new.height >= 2
    assert new.get_column("value")[-1] == 15.0
    assert set(created.get_column("value")) == {10.0, 15.0}
    # Only what is past the watermark was fetched: the old samples are untouched and single.
    assert created.filter(pl.col("ts") <= max(stamps)).equals(
        samples.filter(pl.col("metric") == "prober_create_orders_total")
    )
    unversioned = _query(warehouse, "SELECT count() AS n FROM dds.fact_metrics SETTINGS final = 0")
    assert unversioned.item() == after.height

    # The API mart: increases per hour add up to what the prober did between the two runs.
    mart = _query(warehouse, "SELECT * FROM marts.api_performance_hourly ORDER BY hour, operation")
    create = mart.filter(pl.col("operation") == "create_order")
    cancel = mart.filter(pl.col("operation") == "cancel_order")
    assert create.get_column("requests_count").sum() == 5
    assert create.get_column("success_count").sum() == 5
    assert create.get_column("failure_count").sum() == 0
    assert cancel.get_column("requests_count").sum() == 0
    assert cancel.get_column("p50_duration_seconds").null_count() == cancel.height
    durations: dict[datetime, list[float]] = defaultdict(list)
    for row in after.filter(pl.col("metric") == "prober_create_orders_duration_seconds").iter_rows(
        named=True
    ):
        durations[row["ts"].replace(minute=0, second=0, microsecond=0)].append(row["value"])
    for row in create.iter_rows(named=True):
        values = durations[row["hour"]]
        assert row["duration_samples"] == len(values)
        assert row["p50_duration_seconds"] == _percentile_disc(values, 0.5)
        assert row["p95_duration_seconds"] == _percentile_disc(values, 0.95)
        if row["requests_count"]:
            assert row["error_rate"] == 0.0
            assert row["requests_per_second"] > 0

    # A crash after the insert but before the watermark: the window comes again, and collapses.
    with psycopg.connect(warehouse.ods) as conn:
        conn.execute("DELETE FROM ods.load_state WHERE table_name LIKE 'fact_metrics:%'")
    run_metrics(settings, warehouse, now=datetime.now(UTC) - timedelta(seconds=2))
    replayed = _series(warehouse)
    assert replayed.filter(pl.col("ts") <= max(new.get_column("ts"))).equals(
        after.filter(pl.col("ts") <= max(new.get_column("ts")))
    )
    assert _query(
        warehouse,
        "SELECT count() = uniqExact(metric, labels, ts) AS single FROM dds.fact_metrics FINAL",
    ).item()
    remart = _query(
        warehouse, "SELECT * FROM marts.api_performance_hourly ORDER BY hour, operation"
    )
    assert remart.get_column("requests_count").sum() == 5

    runs = _query(
        warehouse, "SELECT job, status, rows FROM marts.warehouse_runs ORDER BY started_at"
    )
    assert runs.get_column("job").to_list() == ["metrics"] * 3
    assert runs.get_column("status").to_list() == ["succeeded"] * 3
    assert runs.get_column("rows")[0] == first.rows


def test_a_rejected_expression_fails_the_run_but_not_the_others(
    exporter: Exporter, prometheus: str, warehouse: Dsns, home: Path
) -> None:
    wait_for_history(prometheus, "up")
    settings = _settings(home, warehouse, prometheus, prometheus_queries=["up", "sum(("])

    with pytest.raises(DwhError) as raised:
        run_metrics(settings, warehouse)

    message = str(raised.value)
    assert "sum((" in message
    assert "DWH_PROMETHEUS_QUERIES" in message
    assert len(message.splitlines()) == 1
    state = _state(warehouse.ods)
    assert state[state_key("up")][1] == "succeeded"
    assert state[state_key("sum((")] == (None, "failed")
    assert _query(warehouse, "SELECT count() AS n FROM dds.fact_metrics WHERE metric = 'up'").item()
    runs = _query(warehouse, "SELECT status, message FROM marts.warehouse_runs")
    assert runs.get_column("status").to_list() == ["failed"]
    assert "sum((" in runs.get_column("message")[0]


def test_an_unreachable_prometheus_names_the_setting(warehouse: Dsns, home: Path) -> None:
    url = f"http://metrics:s3cret@127.0.0.1:{free_port()}"
    settings = _settings(home, warehouse, url)

    with pytest.raises(ConfigError) as raised:
        run_metrics(settings, warehouse)

    assert raised.value.setting == "DWH_PROMETHEUS_URL"
    assert "s3cret" not in str(raised.value)


def test_a_url_that_is_not_prometheus_names_the_setting(
    exporter: Exporter, warehouse: Dsns, home: Path
) -> None:
    settings = _settings(home, warehouse, f"http://{exporter.address}")

    with pytest.raises(ConfigError, match=r"DWH_PROMETHEUS_URL: .* without a Prometheus API"):
        run_metrics(settings, warehouse)


def test_no_url_configured(warehouse: Dsns, home: Path) -> None:
    with pytest.raises(ConfigError, match="DWH_PROMETHEUS_URL: not set"):
        run_metrics(_settings(home, warehouse, ""), warehouse)
