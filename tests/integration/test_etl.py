"""The whole ETL against real engines: PostgreSQL source/ODS and chDB."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import psycopg
import pytest

from dwh.config import Settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import Dsns
from dwh.etl import clickhouse_session, migrate, run_etl
from dwh.extract import plan_slices
from dwh.simulate import simulate

from .conftest import SIMULATION_END
from .warehouse import assert_same, snapshot_dds, snapshot_ods

TABLES = ("fact_orders", "fact_deliveries", "fact_stages", "dim_performers", "dim_configs")
MARTS = (
    "performer_efficiency",
    "popular_routes",
    "order_funnel_daily",
    "delivery_sla_daily",
    "revenue_daily",
    "address_activity_daily",
    "failure_reasons",
)


def _source_count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


def _snapshot(dsns: Dsns) -> dict[str, pl.DataFrame]:
    """Every DDS table and mart, sorted, without load metadata."""
    out: dict[str, pl.DataFrame] = {}
    with clickhouse_session(dsns) as client:
        for name in [f"dds.{t}" for t in TABLES] + [f"marts.{m}" for m in MARTS]:
            frame = query_frame(client, f"SELECT * EXCEPT (_version) FROM {name}")
            out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def _ods_snapshot(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"SELECT * FROM ods.{table} ORDER BY 1").fetchall()
            for table in ("orders", "pipelines", "stages", "deliveries", "configs", "performers")
        }


@pytest.mark.integration
def test_run_loads_every_source_row(simulated: Dsns, settings: Settings) -> None:
    migrate(simulated)
    report = run_etl(settings, simulated)

    assert report.quarantined == 0
    assert report.held_back == 0
    with clickhouse_session(simulated) as client:
        counts = query_frame(
            client,
            "SELECT (SELECT count() FROM dds.fact_orders) o,"
            " (SELECT count() FROM dds.fact_deliveries) d,"
            " (SELECT count() FROM dds.fact_stages) s",
        ).row(0)
    assert counts == (
        _source_count(simulated.source, "order"),
        _source_count(simulated.source, "pipeline"),
        _source_count(simulated.source, "stage"),
    )
    snapshot = _snapshot(simulated)
    assert all(snapshot[f"marts.{m}"].height > 0 for m in MARTS)


@pytest.mark.integration
def test_second_run_changes_nothing(simulated: Dsns, settings: Settings) -> None:
    migrate(simulated)
    run_etl(settings, simulated)
    first, first_ods = _snapshot(simulated), _ods_snapshot(simulated.ods)
    run_etl(settings, simulated)
    second, second_ods = _snapshot(simulated), _ods_snapshot(simulated.ods)

    assert second_ods == first_ods
    for name, frame in first.items():
        assert second[name].equals(frame), name


@pytest.mark.integration
def test_rows_deleted_in_source_keep_their_history(simulated: Dsns, settings: Settings) -> None:
    migrate(simulated)
    run_etl(settings, simulated)
    with psycopg.connect(simulated.source) as conn:
        deleted = conn.execute(
            'DELETE FROM "order" WHERE id IN'
            ' (SELECT id FROM "order" ORDER BY registered_at LIMIT 50) RETURNING id::text'
        ).fetchall()
    run_etl(settings, simulated)

    with clickhouse_session(simulated) as client:
        orders = query_frame(client, "SELECT order_id, is_deleted_in_source FROM dds.fact_orders")
    assert orders.height == _source_count(simulated.source, "order") + len(deleted)
    flagged = set(orders.filter(pl.col("is_deleted_in_source"))["order_id"])
    assert flagged == {row[0] for row in deleted}


@pytest.mark.integration
def test_new_source_rows_arrive_on_the_next_run(simulated: Dsns, settings: Settings) -> None:
    migrate(simulated)
    run_etl(settings, simulated)
    simulate(simulated.source, orders=200, days=1, seed=99, end=SIMULATION_END)
    run_etl(settings, simulated)

    with clickhouse_session(simulated) as client:
        orders = query_frame(client, "SELECT count() n FROM dds.fact_orders").item()
    assert orders == _source_count(simulated.source, "order")


@pytest.mark.integration
def test_a_first_load_in_slices_equals_one_in_a_single_slice(
    dsns: Dsns, settings: Settings, pg_database_factory: object, tmp_path: Path
) -> None:
    simulate(dsns.source, orders=1_500, days=5, seed=7, end=SIMULATION_END, anomalies=True)
    with psycopg.connect(dsns.source) as conn:
        conn.execute("ANALYZE")  # the slices' boundaries come from the planner's histogram
    sliced = settings.model_copy(update={"first_load_slice_rows": 2_000})
    assert len(plan_slices(dsns.replica, sliced.first_load_slice_rows)) >= 5
    migrate(dsns)
    report = run_etl(sliced, dsns)

    whole = Dsns(
        source=dsns.source,
        replica=dsns.source,
        ods=pg_database_factory("dwh_whole"),  # type: ignore[operator]
        clickhouse=f"chdb://{tmp_path / 'whole-chdb'}",
    )
    migrate(whole)
    reference = run_etl(settings.model_copy(update={"ods_dsn": whole.ods}), whole)
    assert report.quarantined == reference.quarantined > 0
    assert report.extracted == reference.extracted
    assert report.dds == reference.dds
    assert _ods_snapshot_without_load_time(dsns.ods) == _ods_snapshot_without_load_time(whole.ods)
    assert_same(snapshot_dds(dsns), snapshot_dds(whole))


def _ods_snapshot_without_load_time(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    snapshot = snapshot_ods(dsn)
    with psycopg.connect(dsn) as conn:
        snapshot["quarantine"] = conn.execute(
            "SELECT table_name, record_key, reason, payload FROM ods.quarantine ORDER BY 1, 2, 3"
        ).fetchall()
    return snapshot
