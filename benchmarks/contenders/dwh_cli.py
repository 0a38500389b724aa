"""Contender: the user-facing number — the whole ``dwh run etl`` process, first run.

Runs the installed ``dwh`` command as a child process against the benchmark source (used as
both source and replica), a fresh ODS database in PostgreSQL and a fresh chDB directory, and
times it from spawn to exit: interpreter start, imports, migrations, extract, ODS cleanup and
load, DDS build and load, hourly tables and marts — everything a user waits for. Each line the
CLI prints is time-stamped on arrival, which splits the wall time into its steps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from contenders._common import (
    SOURCE_TABLES,
    Result,
    base_parser,
    count_rows,
    drop_database,
    recreate_database,
)

# Progress lines of `dwh run etl` that end a step: (step, pattern); the last matching line
# ends the step. A step whose line the CLI does not print is merged into the next one.
_MILESTONES = (
    # A first load reads, cleans, copies into the ODS and loads into the DDS slice by slice.
    ("slices: extract, clean, ODS copy, DDS build + load", re.compile(r"first load: slice \d+/")),
    ("hourly + marts, ODS indexes + commit", re.compile(r"DDS loaded")),
)


def dwh_command() -> list[str]:
    """The ``dwh`` console script of this environment (``python -m dwh`` if it is missing)."""
    script = Path(sys.executable).with_name("dwh")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dwh"]


class FirstRead(threading.Thread):
    """Notes when a foreign session first runs a query on the source database.

    The CLI prints nothing between start-up, migrations and the end of its first table's
    extract; the first query on the source marks where extraction starts (±50 ms).
    """

    def __init__(self, source_dsn: str) -> None:
        super().__init__(daemon=True)
        self.source_dsn = source_dsn
        self.seen_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        """Poll ``pg_stat_activity`` until a query shows up or :attr:`stop` is set."""
        with psycopg.connect(self.source_dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state = 'active'"
                ).fetchone()
                if row:
                    self.seen_at = time.perf_counter()
                    return
                self.stop.wait(0.05)


def split_steps(
    stamped: list[tuple[float, str]], started: float, ended: float, extract_started: float | None
) -> dict[str, float]:
    """Seconds of each step, from the arrival times of the milestone lines."""
    phases: dict[str, float] = {}
    previous = started
    if extract_started is not None:
        phases["start-up + migrate"] = extract_started - started
        previous = extract_started
    else:
        phases["start-up + migrate"] = 0.0  # not separable: counted in the next step
    skipped: list[str] = []
    for name, pattern in _MILESTONES:
        matching = [at for at, line in stamped if pattern.search(line)]
        if not matching:
            skipped.append(name)
            continue
        label = " + ".join([*skipped, name])
        phases[label] = matching[-1] - previous
        previous = matching[-1]
        skipped = []
    phases["summary + exit"] = ended - previous
    return phases


def main() -> None:
    """Run ``dwh run etl`` once on empty ODS and DDS; report its process wall time."""
    parser = base_parser(__doc__ or "")
    parser.add_argument("--ods-database", required=True, help="Created, then dropped.")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    ods_dsn = urlsplit(args.source_dsn)._replace(path=f"/{args.ods_database}").geturl()
    recreate_database(ods_dsn)
    env = {
        key: value
        for key, value in os.environ.items()
        # A Prefect API would route the run through a flow; a user's DWH_* must not leak in.
        if not key.startswith(("DWH_", "PREFECT_API_URL"))
    }
    env |= {
        "DWH_HOME": str(workdir / "home"),
        "DWH_SOURCE_DSN": args.source_dsn,
        "DWH_REPLICA_DSN": args.source_dsn,
        "DWH_ODS_DSN": ods_dsn,
        "DWH_CLICKHOUSE_DSN": f"chdb://{workdir / 'chdb'}",
        "COLUMNS": "200",  # keep rich from wrapping the progress lines we match
    }
    try:
        stamped: list[tuple[float, str]] = []
        first_read = FirstRead(args.source_dsn)
        first_read.start()
        started = time.perf_counter()
        # cwd = scratch dir: Settings also reads ./.env, which must not be the developer's.
        with subprocess.Popen(
            [*dwh_command(), "run", "etl"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                stamped.append((time.perf_counter(), line.rstrip()))
                print(line, end="", file=sys.stderr)
        ended = time.perf_counter()
        seconds = ended - started
        first_read.stop.set()
        first_read.join()
        if process.returncode != 0:
            raise SystemExit(f"dwh run etl exited with {process.returncode}")
        counts = count_rows(args.source_dsn)
        Result(
            contender="dwh_cli",
            rows=sum(counts[t] for t in SOURCE_TABLES),
            seconds=seconds,
            pipelines=counts["pipeline"],
            rows_by_table=counts,
            phases=split_steps(stamped, started, ended, first_read.seen_at),
            notes={"last_line": stamped[-1][1] if stamped else ""},
        ).emit()
    finally:
        drop_database(ods_dsn)


if __name__ == "__main__":
    main()
