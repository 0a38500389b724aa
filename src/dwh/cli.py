"""The ``dwh`` command line: demo, migrate, run, simulate, sql."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable
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
) -> None:
    """Append a simulated Sorting Hat history to the source database."""
    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.simulate import create_source_schema
    from dwh.simulate import simulate as write_history

    dsns = start_embedded(get_settings())
    create_source_schema(dsns.source)
    with console.status(f"simulating {orders} orders"):
        summary = write_history(
            dsns.source, orders=orders, days=days, seed=seed, anomalies=anomalies
        )
    console.print(summary)


@run_app.command("etl")
@_friendly_errors
def run_etl_command() -> None:
    """Run the ETL once: replica → ODS → DDS → marts."""
    from dwh.orchestration import run_etl_job

    report = run_etl_job(progress=_say)
    console.print(f"ETL finished in {report.seconds:.1f} s: {report.extracted}")


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


def main() -> None:
    """Entry point with logging configured for humans."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
