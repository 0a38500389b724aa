"""Killing the ETL (SIGKILL) at any stage boundary or mid-load, then rerunning, leaves every
layer exactly as one clean run does — and hypothesis-generated histories of inserts, in-place
updates and deletes, loaded run by run, end in the same warehouse as one load of the result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwh.config import Settings
from dwh.engines.embedded import Dsns
from dwh.etl import migrate, run_etl
from dwh.failpoints import POINTS
from dwh.simulate import create_source_schema, simulate

from .conftest import SIMULATION_END
from .test_incremental import COMPLETE_STALLED
from .warehouse import assert_same, fresh_full_load, snapshot_dds, snapshot_ods

FAIL_RUNNING = (
    "UPDATE pipeline SET status = 'failed', finished_at = now(),"
    " message = 'There are physically no performers in the source zone'"
    " WHERE id IN (SELECT id FROM pipeline WHERE status = 'in_progress' ORDER BY id LIMIT %(n)s)"
)
DELETE_OLDEST = (
    'DELETE FROM "order" WHERE id IN'
    ' (SELECT id FROM "order" ORDER BY registered_at, id LIMIT %(n)s)'
)


def _run_cli(
    dsns: Dsns, home: Path, failpoint: str | None = None, slice_rows: int | None = None
) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_API"))}
    if slice_rows is not None:
        env["DWH_FIRST_LOAD_SLICE_ROWS"] = str(slice_rows)
    env.update(
        DWH_HOME=str(home),
        DWH_SOURCE_DSN=dsns.source,
        DWH_REPLICA_DSN=dsns.replica,
        DWH_ODS_DSN=dsns.ods,
        DWH_CLICKHOUSE_DSN=dsns.clickhouse,
    )
    if failpoint:
        env["DWH_FAILPOINT"] = failpoint
    result = subprocess.run(
        [sys.executable, "-m", "dwh", "run", "etl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode


def _warehouse(source: str, database: Callable[[str], str], home: Path, name: str) -> Dsns:
    dsns = Dsns(source, source, database(f"dwh_{name}"), f"chdb://{home / name}")
    migrate(dsns)
    return dsns


def _mutate(source: str) -> None:
    simulate(source, orders=120, days=1, seed=5, end=SIMULATION_END)
    with psycopg.connect(source) as conn:
        conn.execute(COMPLETE_STALLED, {"n": 20})
        conn.execute(FAIL_RUNNING, {"n": 5})
        conn.execute(DELETE_OLDEST, {"n": 15})


def _kill_rerun_and_compare(
    crashed: Dsns, clean: Dsns, home: Path, point: str, slice_rows: int | None = None
) -> None:
    """Kill a run of ``crashed`` at ``point``, run it again, run ``clean`` once: the two
    warehouses must be the same."""
    assert _run_cli(crashed, home, point, slice_rows) == -signal.SIGKILL
    assert _run_cli(crashed, home, slice_rows=slice_rows) == 0
    assert _run_cli(clean, home, slice_rows=slice_rows) == 0
    assert not list(home.glob("spill/*"))  # what the killed run set aside is gone too

    assert snapshot_ods(crashed.ods) == snapshot_ods(clean.ods)
    assert_same(snapshot_dds(crashed), snapshot_dds(clean))


@pytest.mark.integration
@pytest.mark.parametrize("point", POINTS)
def test_killed_run_then_rerun_equals_one_clean_run(
    point: str, simulated: Dsns, pg_database_factory: object, tmp_path: Path
) -> None:
    database = pg_database_factory  # type: ignore[assignment]
    crashed = _warehouse(simulated.source, database, tmp_path, "crashed")  # type: ignore[arg-type]
    clean = _warehouse(simulated.source, database, tmp_path, "clean")  # type: ignore[arg-type]
    assert _run_cli(crashed, tmp_path) == 0
    assert _run_cli(clean, tmp_path) == 0
    _mutate(simulated.source)

    _kill_rerun_and_compare(crashed, clean, tmp_path, point)


@pytest.mark.integration
@pytest.mark.parametrize(
    "point", ["ods.loading@7", "dds.inserting@5", "marts.refreshing", "dds.loaded"]
)
def test_a_killed_first_load_then_rerun_equals_one_clean_run(
    point: str, simulated: Dsns, pg_database_factory: object, tmp_path: Path
) -> None:
    # A first load writes the ODS and the DDS side by side, slice by slice (about four here):
    # the kill can find the ODS committed or not, and the DDS ahead of it, part of the
    # slices in.
    database = pg_database_factory  # type: ignore[assignment]
    crashed = _warehouse(simulated.source, database, tmp_path, "crashed")  # type: ignore[arg-type]
    clean = _warehouse(simulated.source, database, tmp_path, "clean")  # type: ignore[arg-type]
    _kill_rerun_and_compare(crashed, clean, tmp_path, point, slice_rows=3_000)


Operation = tuple[str, int]
OPERATIONS = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 60)),
    st.tuples(st.just("complete"), st.integers(1, 30)),
    st.tuples(st.just("fail"), st.integers(1, 10)),
    st.tuples(st.just("delete"), st.integers(1, 20)),
)


def _apply(source: str, operation: Operation, step: int) -> None:
    kind, n = operation
    if kind == "insert":
        simulate(source, orders=n, days=2, seed=1_000 + step, end=SIMULATION_END)
        return
    statement = {"complete": COMPLETE_STALLED, "fail": FAIL_RUNNING, "delete": DELETE_OLDEST}
    with psycopg.connect(source) as conn:
        conn.execute(statement[kind], {"n": n})  # type: ignore[call-overload]


@pytest.mark.integration
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(OPERATIONS, min_size=1, max_size=4))
def test_runs_over_a_history_equal_one_load_of_its_end(
    history: list[Operation], pg_database_factory: object, tmp_path: Path
) -> None:
    database: Callable[[str], str] = pg_database_factory  # type: ignore[assignment]
    home = tmp_path / uuid.uuid4().hex
    source = database("dwh_history")
    create_source_schema(source)
    simulate(source, orders=200, days=3, seed=3, end=SIMULATION_END)
    dsns = _warehouse(source, database, home, "incremental")
    run_settings = Settings(home=home, source_dsn=source, replica_dsn=source, ods_dsn=dsns.ods)
    run_etl(run_settings, dsns)
    for step, operation in enumerate(history):
        _apply(source, operation, step)
        run_etl(run_settings, dsns)

    reference, reference_dds = fresh_full_load(source, database, home)
    if any(kind == "delete" for kind, _ in history):
        # Deleted history stays in the warehouse but not in a fresh load: compare what lives.
        assert_same(snapshot_dds(dsns, live_only=True), snapshot_dds(reference, live_only=True))
        assert snapshot_ods(dsns.ods, live_only=True) == snapshot_ods(reference.ods, live_only=True)
    else:
        assert_same(snapshot_dds(dsns), reference_dds)
        assert snapshot_ods(dsns.ods) == snapshot_ods(reference.ods)
