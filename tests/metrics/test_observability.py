"""Warehouse metrics out: runs recorded in ClickHouse and pushed to a real Pushgateway."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dwh import observability
from dwh.config import Settings
from dwh.dds import apply_migrations
from dwh.engines.clickhouse import open_client, query_frame
from dwh.metrics import FactMetricsSchema

from .system import free_port


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _runs(chdb_dsn: str) -> pl.DataFrame:
    client = open_client(chdb_dsn)
    try:
        return query_frame(client, "SELECT * FROM marts.warehouse_runs ORDER BY started_at")
    finally:
        client.close()


@pytest.fixture
def migrated_chdb(chdb_dsn: str) -> str:
    client = open_client(chdb_dsn)
    try:
        apply_migrations(client)
    finally:
        client.close()
    return chdb_dsn


@pytest.mark.integration
def test_a_run_is_recorded_and_pushed(pushgateway: str, migrated_chdb: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, clickhouse_dsn=migrated_chdb, pushgateway_url=pushgateway)

    with observability.track_run("test-ok", settings) as run:
        observability.record_loaded("dds", "fact_test", 7)
        run.rows = 7
        run.quarantined = 2
    with pytest.raises(RuntimeError, match="boom"), observability.track_run("test-bad", settings):
        raise RuntimeError("boom\nsecond line")

    runs = _runs(migrated_chdb)
    assert runs.select("job", "status", "rows", "quarantined", "message").rows() == [
        ("test-ok", "succeeded", 7, 2, None),
        ("test-bad", "failed", 0, 0, "boom"),
    ]
    assert (runs.get_column("seconds") >= 0).all()
    assert (runs.get_column("finished_at") >= runs.get_column("started_at")).all()
    pushed = _samples(httpx.get(f"{pushgateway}/metrics", timeout=5).text)
    ok = (("instance", ""), ("job", "test-ok"))
    assert pushed[("dwh_run_rows", ok)] == 7
    assert pushed[("dwh_run_succeeded", ok)] == 1
    assert pushed[("dwh_rows_loaded_total", (*ok, ("layer", "dds"), ("table", "fact_test")))] >= 7
    bad = (("instance", ""), ("job", "test-bad"))
    assert pushed[("dwh_run_succeeded", bad)] == 0
    # Freshness of every non-empty mart: warehouse_runs was just rebuilt.
    assert observability.MART_FRESHNESS.labels(mart="warehouse_runs")._value.get() >= 0


def test_recording_problems_never_fail_the_run(
    chdb_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = f"http://pusher:s3cret@127.0.0.1:{free_port()}"
    settings = Settings(home=tmp_path, clickhouse_dsn=chdb_dsn, pushgateway_url=gateway)

    with (
        caplog.at_level(logging.WARNING, "dwh.observability"),
        observability.track_run("test-unmigrated", settings),
    ):
        pass

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not recorded in marts.warehouse_runs" in w for w in warnings)
    assert any("could not push test-unmigrated metrics" in w for w in warnings)
    assert all("s3cret" not in w for w in warnings)


def test_counters_for_the_events_consumer() -> None:
    before = _samples(_exposition())
    observability.record_events_consumed("trigger-channel", "trigger", 3)
    observability.record_dead_letters("result-channel")
    observability.set_consumer_lag("trigger-channel", 0, 42)
    after = _samples(_exposition())

    consumed = (
        "dwh_events_consumed_total",
        (("event_type", "trigger"), ("topic", "trigger-channel")),
    )
    dead = ("dwh_dead_letters_total", (("topic", "result-channel"),))
    assert after[consumed] - before.get(consumed, 0) == 3
    assert after[dead] - before.get(dead, 0) == 1
    assert (
        after[("dwh_consumer_lag_messages", (("partition", "0"), ("topic", "trigger-channel")))]
        == 42
    )


def _exposition() -> str:
    server = observability.serve_metrics(0)
    try:
        return httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.close()


def test_a_busy_metrics_port_names_the_setting() -> None:
    server = observability.serve_metrics(0)
    try:
        with pytest.raises(Exception, match="DWH_METRICS_PORT"):
            observability.serve_metrics(server.port)
    finally:
        server.close()


def test_fact_metrics_schema_matches_the_ddl(migrated_chdb: str) -> None:
    client = open_client(migrated_chdb)
    try:
        columns = client.query(
            "SELECT name, type FROM system.columns"
            " WHERE database = 'dds' AND table = 'fact_metrics' ORDER BY position"
        ).result_rows
    finally:
        client.close()
    assert columns == [
        ("metric", "LowCardinality(String)"),
        ("labels", "Map(LowCardinality(String), String)"),
        ("ts", "DateTime64(6, 'UTC')"),
        ("value", "Float64"),
        ("_version", "UInt64"),
    ]
    assert FactMetricsSchema.column_names() == [name for name, _ in columns[:-1]]
