"""The ``dwh`` command line: demo, migrate, run, simulate, sql."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import wraps
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from dwh.errors import DwhError, mask_secrets

# pgserver warns about a missing XDG_RUNTIME_DIR on every import; it falls back to /tmp, which
# is what we want anyway.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

app = typer.Typer(
    help="Analytical warehouse for the Sorting Hat delivery platform.", no_args_is_help=True
)
run_app = typer.Typer(help="Run one of the warehouse's jobs.", no_args_is_help=True)
app.add_typer(run_app, name="run")

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def _friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Expected failures print one line naming what to fix, and exit 1 without a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except DwhError as exc:
            err_console.print(
                f"[red]error:[/red] {mask_secrets(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None

    return wrapper


class OutputFormat(StrEnum):
    """How ``dwh sql`` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


def _say(message: str) -> None:
    console.log(message, highlight=False)


@app.command()
@_friendly_errors
def migrate() -> None:
    """Apply the ODS (Alembic) and ClickHouse (schemas/) migrations."""
    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.etl import migrate as run_migrate

    applied = run_migrate(start_embedded(get_settings()))
    console.print(f"ODS at head; {len(applied)} ClickHouse migration(s) applied")


@app.command()
@_friendly_errors
def simulate(
    orders: Annotated[int, typer.Option(min=1, help="Orders to generate.")] = 20_000,
    days: Annotated[float, typer.Option(min=0.01, help="Days of history, ending now.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    anomalies: Annotated[
        bool, typer.Option(help="Also write invalid rows (for quarantine tests).")
    ] = False,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Also publish the history's trigger/result events to Kafka (with no "
            "DWH_KAFKA_BOOTSTRAP_SERVERS: through an embedded broker into the warehouse).",
        ),
    ] = False,
) -> None:
    """Append a simulated Sorting Hat history to the source database."""
    from datetime import UTC, datetime

    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.simulate import create_source_schema
    from dwh.simulate import simulate as write_history

    settings = get_settings()
    dsns = start_embedded(settings)
    create_source_schema(dsns.source)
    # One fixed end: the events are regenerated from the same (deterministic) history.
    end = datetime.now(UTC)
    with console.status(f"simulating {orders} orders"):
        summary = write_history(
            dsns.source, orders=orders, days=days, seed=seed, end=end, anomalies=anomalies
        )
    console.print(summary)
    if kafka:
        from dwh.events import publish_events
        from dwh.simulate import history_events

        records = history_events(
            orders,
            days=days,
            seed=seed,
            end=end,
            anomalies=anomalies,
            triggers_topic=settings.topic_name_triggers,
            results_topic=settings.topic_name_results,
        )
        console.print(publish_events(settings, dsns, records, progress=_say))


@run_app.command("etl")
@_friendly_errors
def run_etl_command(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Re-read every source row (still merging).")
    ] = False,
) -> None:
    """Run the ETL once: replica → ODS → DDS → marts (incremental by default)."""
    from dwh.orchestration import run_etl_job

    report = run_etl_job(progress=_say, full_refresh=full_refresh)
    if report.replica_unchanged:
        console.print("The replica has committed nothing since the last run: nothing to read.")
    console.print(
        f"ETL ({report.mode}) finished in {report.seconds:.1f} s: extracted {report.extracted},"
        f" quarantined {report.quarantined}, held back {report.held_back},"
        f" orders deleted in source {report.deleted_orders}, DDS rows {report.dds}"
    )


@app.command()
@_friendly_errors
def backfill(
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC).")],
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Day after the last one (default: tomorrow)."),
    ] = None,
) -> None:
    """Re-read the orders registered in [since, until) and rebuild them in every layer."""
    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.etl import migrate, run_backfill

    settings = get_settings()
    dsns = start_embedded(settings)
    migrate(dsns)
    last = until.date() if until else datetime.now(UTC).date() + timedelta(days=1)
    report = run_backfill(settings, dsns, since.date(), last, _say)
    console.print(f"backfill finished in {report.seconds:.1f} s: DDS rows {report.dds}")


@app.command()
@_friendly_errors
def status() -> None:
    """Per table: cursor, last run, rows, freshness; and the replica's lag."""
    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.etl import migrate
    from dwh.status import warehouse_status

    dsns = start_embedded(get_settings())
    migrate(dsns)
    report = warehouse_status(dsns)
    table = Table("table", "cursor", "last run", "rows loaded", "status", "rows", "freshness")
    for t in report.tables:
        table.add_row(
            t.table,
            t.cursor or "",
            f"{t.last_run_at:%Y-%m-%d %H:%M:%S}" if t.last_run_at else "never",
            "" if t.last_run_rows is None else str(t.last_run_rows),
            t.last_run_status or "",
            "" if t.rows is None else str(t.rows),
            _age(t.freshness),
        )
    console.print(table)
    if not report.replica_is_standby:
        console.print("replica: not a standby (DWH_REPLICA_DSN points at a primary)")
    elif report.replica_lag is None:
        console.print("replica lag: unknown (nothing replayed since the standby started)")
    else:
        console.print(f"replica lag: {_age(report.replica_lag)}")


def _age(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


@app.command()
@_friendly_errors
def sql(
    query: Annotated[str, typer.Argument(help="A ClickHouse query on the warehouse.")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """Run a query on the warehouse (DDS and marts) and print the result."""
    from dwh.config import get_settings
    from dwh.warehouse import query_frame

    frame = query_frame(get_settings(), query)
    if output is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
    elif output is OutputFormat.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str) + "\n")
    else:
        table = Table(*frame.columns)
        for row in frame.iter_rows():
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        console.print(table)


@app.command()
@_friendly_errors
def demo(
    orders: Annotated[
        int, typer.Option(min=1, help="Orders to simulate when the source is empty.")
    ] = 20_000,
) -> None:
    """Simulate a source if it is empty, run the ETL and print the key marts."""
    from dwh.demo import run_demo

    run_demo(orders=orders, console=console, progress=_say)


# Events commands (dwh consume, dwh run events) are registered below this line.


@app.command()
@_friendly_errors
def consume() -> None:
    """Consume the trigger and result topics into the warehouse until SIGINT/SIGTERM."""
    import threading

    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.etl import migrate as run_migrate
    from dwh.events import EventConsumer, require_bootstrap, stop_on_signals

    settings = get_settings()
    require_bootstrap(settings.kafka_bootstrap_servers)  # before any engine starts
    dsns = start_embedded(settings)
    run_migrate(dsns)
    consumer = EventConsumer(
        settings, ods_dsn=dsns.ods, clickhouse_dsn=dsns.clickhouse, progress=_say
    )
    stop = threading.Event()
    _say(
        f"consuming {settings.topic_name_triggers}, {settings.topic_name_results} as group "
        f"{settings.kafka_group_id}; Ctrl-C to stop"
    )
    with stop_on_signals(stop):
        report = consumer.run(stop=stop)
    console.print(f"stopped: {report}")


@run_app.command("events")
@_friendly_errors
def run_events_command(
    max_messages: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many records.")
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option(min=0.1, help="Stop after this many seconds.")
    ] = 60.0,
) -> None:
    """Consume the event topics once, bounded (for schedules), and refresh the event marts."""
    from dwh.events import run_events_job

    report = run_events_job(max_messages=max_messages, max_seconds=max_seconds, progress=_say)
    console.print(f"events: {report}")


# Metrics and report commands (dwh run metrics, dwh report) are registered below this line.


@run_app.command("metrics")
@_friendly_errors
def run_metrics_command() -> None:
    """Ingest Prometheus once: query_range → dds.fact_metrics → marts.api_performance_hourly."""
    from dwh.metrics import run_metrics_job

    report = run_metrics_job(progress=_say)
    console.print(
        f"metrics: {report.rows} samples from {len(report.samples)} queries"
        f" in {report.windows} request(s), {report.seconds:.1f} s"
    )


@app.command()
@_friendly_errors
def report(
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Where to write (default DWH_HOME).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Time range of time-based panels.")] = 30,
) -> None:
    """Write the dashboards as one self-contained HTML file (opens offline)."""
    from pathlib import Path

    from dwh.config import get_settings
    from dwh.dashboards import write_report

    written = write_report(get_settings(), Path(output) if output else None, days=days)
    for failed in written.failed:
        err_console.print(
            f"[yellow]warning:[/yellow] panel {failed.panel.title!r}: {failed.error}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"report: {written.path}", highlight=False, soft_wrap=True)


@app.command("docs")
@_friendly_errors
def docs_command(
    check: Annotated[
        bool, typer.Option("--check", help="Only compare with the committed file; write nothing.")
    ] = False,
) -> None:
    """Generate docs/DATA_DICTIONARY.md from the live schemas and schemas/dictionary.toml."""
    from dwh.docs import DEFAULT_OUTPUT, generate_dictionary

    result = generate_dictionary(check=check)
    for problem in result.problems:
        # markup=False: problems quote TOML sections such as [dds.fact_orders.columns].
        err_console.print(f"dictionary: {problem}", markup=False, highlight=False, soft_wrap=True)
    if check and result.changed:
        err_console.print(f"{DEFAULT_OUTPUT} is out of date: run `dwh docs`", highlight=False)
    elif not check:
        console.print(f"{DEFAULT_OUTPUT} {'written' if result.changed else 'up to date'}")
    if result.problems or (check and result.changed):
        raise typer.Exit(1)


def main() -> None:
    """Entry point with logging configured for humans."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
