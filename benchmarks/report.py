"""Turning the measured runs into the console table and ``docs/BENCHMARKS.md``.

Verdicts against the targets are computed here from the numbers, not written by hand, so a
re-run that misses a target says so in the report it writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Run, Source

MIB = 1024 * 1024
_PULL_TARGET = 0.8  # the hop's throughput ÷ ClickHouse's own pull, at least

_DESCRIPTIONS = {
    "hop": "**dwh hop**: extract (connectorx → Polars), ODS + DDS transforms, insert into chDB",
    "ch_pull": "ClickHouse pulls itself: chDB `INSERT … SELECT FROM postgresql()`, plain copy",
    "cx_read": "connectorx reads the five tables into Arrow, nothing else (not a loader)",
    "dlt": "dlt `sql_database` (connectorx backend) → DuckDB, plain copy",
    "naive": "naive: psycopg `fetchone()` → pandas → one `INSERT` per row (sample)",
    "hop_small": "**dwh hop** on the small source (memory scaling)",
    "cli": "**`dwh run etl`** process, first run (ODS in PostgreSQL + DDS in chDB)",
    "ch_pull_etl": "ClickHouse pulls the five tables itself (`postgresql()`)",
    "pg_copy_etl": "PostgreSQL `COPY TO STDOUT` → `COPY FROM STDIN` into another database",
}

METHOD = """\
## Other benchmarks

- Incremental loading (an incremental run after 1% of the rows changed, side by side with a
  full refresh): [BENCHMARKS_INCREMENTAL.md](BENCHMARKS_INCREMENTAL.md), written by
  `benchmarks/incremental.py`.
- Kafka events ingest (events/s and memory): [BENCHMARKS_EVENTS.md](BENCHMARKS_EVENTS.md),
  written by `benchmarks/events/run.py`.

## How it is measured

- **One command, one run.** `benchmarks/run.py` simulates the sources with `dwh.simulate`
  (fresh databases, then `VACUUM ANALYZE`), runs every contender one after the other on the
  same data, prints the tables and writes this file. No two contenders run at once.
- **Own process per contender.** Each contender is `python -m contenders.<name>`; the parent
  reaps it with `os.wait4`, whose `ru_maxrss` is that child's peak RSS (and that of the
  processes it waited for: the `dwh` CLI for the part 2 contender). The PostgreSQL server's
  memory is nobody's; chDB runs in-process, so ClickHouse's memory *is* counted for the hop
  and for the ClickHouse pull.
- **Work time vs process time.** *Work s* is timed inside the contender around the rows moving
  (after imports, engine start-up and `CREATE TABLE`s, which all contenders pay once);
  throughput is source rows ÷ work s. *Process s* is spawn to exit. For `dwh run etl` the two
  are the same number by definition: the user waits for the whole process.
- **A shared machine.** *CPU s (own)* is the contender's user + system time (with the
  processes it waited for); *CPU s (PostgreSQL)* is the server's backends serving it (sampled
  from `/proc` every 0.2 s: a close lower bound); *CPU s (other work)* is what the rest of the
  machine used meanwhile (`/proc/stat` busy time minus the two): interference from anything
  else running. With `--repeat` the fastest run is kept (interference only ever adds time).
- **Source = replica.** The benchmark reads the source database directly (no standby): the
  replica hop is what is measured, not replication. PostgreSQL 15 on TCP loopback.
- **The hop** is the ETL's first load without the ODS: the source read in slices of orders
  (`dwh.extract.read_in_slices`, about `DWH_FIRST_LOAD_SLICE_ROWS` = 1M source rows each,
  the next slice read while the current one is worked on) → the ODS cleanup
  (`clean_snapshot`) → `dwh.etl.first_load_facts` → `load_dds` (Arrow inserts;
  `rules=False`: the frames come straight from the builders, whose rules the property tests
  prove, so only their columns, dtypes and nullability are checked — the ETL's own load
  validates every rule), slice by slice; `dim_performers` merged from the slices at the end.
  Its phases are summed over the slices; *extract* is the time spent waiting for a slice that
  was not read yet. The PostgreSQL ODS round trip is not in it (it is in part 2). The
  hourly/mart refresh after it is timed but not counted.
- **ClickHouse pull**: `CREATE TABLE … EMPTY AS SELECT * FROM postgresql(…)` (untimed), then
  `INSERT INTO … SELECT * FROM postgresql(…)` per table into `MergeTree ORDER BY tuple()`.
- **Naive loader**: `pipeline` rows, psycopg 3 `fetchone()` loop, `pd.DataFrame`, one
  `INSERT` per row into a PostgreSQL table on the same server, one commit at the end (kind to
  it: per-row commits or row-by-row ClickHouse inserts would be far slower).
- **connectorx read**: `connectorx.read_sql(…, return_type="arrow")` of `SELECT *` per table,
  one connection, the Arrow table dropped: the reading every connectorx-based loader (the hop,
  dlt) does before anything else; not a loader, shown for the floor it sets.
- **dlt**: `sql_database(backend="connectorx")` → `dlt.destinations.duckdb`, fresh pipeline
  directory, telemetry off.
- **PostgreSQL copy**: binary `COPY` streamed block by block between two psycopg
  connections into the source's DDL (keys and indexes) without its foreign keys — the ODS
  has none, and their per-row triggers would flatter the comparison.
"""


@dataclass(frozen=True)
class Report:
    """The same results for the terminal and for the docs."""

    console: str
    markdown: str


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _s(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _run_rows(runs: Mapping[str, Run], keys: Sequence[str]) -> list[list[str]]:
    rows = []
    for key in keys:
        if key not in runs:
            continue
        run = runs[key]
        rows.append(
            [
                _DESCRIPTIONS[key],
                f"{run.source.label} ({_n(run.source.orders)} orders)",
                _n(run.result["rows"]),
                _s(run.seconds),
                _n(run.rows_per_second),
                _n(run.pipelines_per_second),
                _s(run.process_seconds),
                _n(run.peak_rss_mib),
                _s(run.cpu_seconds),
                _s(run.server_cpu_seconds),
                _s(run.other_cpu_seconds),
            ]
        )
    return rows


_RUN_HEADER = (
    "contender",
    "source",
    "rows",
    "work s",
    "rows/s",
    "pipelines/s",
    "process s",
    "peak RSS MiB",
    "CPU s (own)",
    "CPU s (PostgreSQL)",
    "CPU s (other work)",
)


def _sources_section(sources: Sequence[Source]) -> str:
    rows = [
        [
            s.label,
            _n(s.orders),
            _n(s.rows["pipeline"]),
            _n(s.rows["stage"]),
            _n(s.rows["delivery"]),
            _n(s.rows["config"]),
            _n(s.total_rows),
            "reused" if s.simulate_seconds is None else _s(s.simulate_seconds),
        ]
        for s in sources
    ]
    header = (
        "source",
        "orders",
        "pipelines",
        "stages",
        "deliveries",
        "configs",
        "rows",
        "simulate s",
    )
    return "## Sources\n\n" + _table(header, rows)


def _part1(runs: Mapping[str, Run]) -> str:
    keys = ("hop", "ch_pull", "cx_read", "dlt", "naive", "hop_small")
    if "hop" not in runs:
        return ""
    hop = runs["hop"]
    out = [
        f"## Part 1 — replica → DDS hop ({_n(hop.source.orders)} orders, "
        f"{_n(hop.result['pipelines'])} pipelines, {_n(hop.result['rows'])} source rows)",
        _table(_RUN_HEADER, _run_rows(runs, keys)),
        "### Ratios against the targets",
    ]
    ratios: list[list[str]] = []
    if "ch_pull" in runs:
        ratio = hop.rows_per_second / runs["ch_pull"].rows_per_second
        ratios.append(
            [
                "hop ÷ ClickHouse `postgresql()` pull (rows/s)",
                f"{ratio:.2f}x",
                f"≥ {_PULL_TARGET}x (aim ≥ 1x)",
                _verdict(ratio >= _PULL_TARGET) + (" (aim met)" if ratio >= 1 else ""),
            ]
        )
    if "naive" in runs:
        ratio = hop.rows_per_second / runs["naive"].rows_per_second
        ratios.append(
            [
                "hop ÷ naive row-by-row loader (rows/s)",
                f"{ratio:.0f}x",
                "≥ 50x",
                _verdict(ratio >= 50),
            ]
        )
    if "dlt" in runs:
        ratio = hop.rows_per_second / runs["dlt"].rows_per_second
        ratios.append(["hop ÷ dlt → DuckDB (rows/s)", f"{ratio:.2f}x", "> 1x", _verdict(ratio > 1)])
    if "hop_small" in runs:
        small = runs["hop_small"]
        rows_ratio = hop.result["rows"] / small.result["rows"]
        rss_ratio = hop.peak_rss_mib / small.peak_rss_mib
        ratios.append(
            [
                "hop peak RSS, full ÷ small",
                f"{rss_ratio:.2f}x for {rows_ratio:.1f}x the rows",
                "flat (≈ 1x)",
                _verdict(rss_ratio <= 1.2),
            ]
        )
    out.append(_table(("comparison", "ratio", "target", "verdict"), ratios, "lrll"))
    if "cx_read" in runs:
        out.append(_read_floor(hop, runs["cx_read"], runs.get("ch_pull"), runs.get("dlt")))
    out.append(_phases_section(runs))
    if "hop_small" in runs:
        out.append(_memory_section(hop, runs["hop_small"]))
    return "\n\n".join(out)


def _read_floor(hop: Run, read: Run, pull: Run | None, dlt: Run | None) -> str:
    """What reading alone costs: the floor under the hop and dlt, next to the targets."""
    lines = [
        f"connectorx reads the same rows into Arrow, and does nothing else with them, in "
        f"{_s(read.seconds)} s ({_n(read.rows_per_second)} rows/s, {_s(read.cpu_seconds)} CPU s "
        f"of its own). Whatever a loader that reads this way does with the rows comes on top:"
        f" the hop spends {_s(hop.seconds - read.seconds)} s more (cleanup, facts, chDB inserts"
        f" with sorting keys)"
        + (
            f", dlt {_s(dlt.seconds - read.seconds)} s (normalising, writing DuckDB)."
            if dlt is not None
            else "."
        )
    ]
    if pull is not None:
        budget = pull.seconds / _PULL_TARGET - read.seconds
        left = f"{_s(budget)} s" if budget > 0 else "no time"
        lines.append(
            f"ClickHouse's whole pull takes {_s(pull.seconds)} s, so the read alone runs at "
            f"{read.rows_per_second / pull.rows_per_second:.2f}x the pull; at {_PULL_TARGET}x "
            f"the pull a loader has {left} left for everything it does beyond reading."
        )
    return "### The read alone\n\n" + " ".join(lines)


def _phases_section(runs: Mapping[str, Run]) -> str:
    hop = runs["hop"]
    small = runs.get("hop_small")
    phases: dict[str, float] = hop.result["phases"]
    header = ["phase", "s (full)", "share of hop", "peak RSS after, MiB (full)"]
    if small:
        header += ["s (small)", "peak RSS after, MiB (small)"]
    rows = []
    for name, seconds in phases.items():
        counted = not name.startswith("refresh")
        row = [
            name if counted else f"{name} (not counted)",
            _s(seconds),
            f"{seconds / hop.seconds:.0%}" if counted else "—",
            _n(hop.result["peak_rss_after"][name]),
        ]
        if small:
            row += [_s(small.result["phases"][name]), _n(small.result["peak_rss_after"][name])]
        rows.append(row)
    inserts: dict[str, float] = hop.result["notes"].get("insert_seconds_by_table", {})
    detail = ""
    if inserts:
        dds_rows: dict[str, int] = hop.result["notes"]["dds_rows"]
        detail = (
            "\n\nInsert by DDS table (structure check + Arrow conversion + chDB insert):\n\n"
            + _table(
                ("table", "rows", "s", "rows/s"),
                [
                    [name, _n(dds_rows[name]), _s(sec), _n(dds_rows[name] / sec if sec else 0)]
                    for name, sec in inserts.items()
                ],
            )
        )
    return "### Where the hop spends its time\n\n" + _table(header, rows) + detail


def _memory_section(full: Run, small: Run) -> str:
    rows_full, rows_small = full.result["rows"], small.result["rows"]
    rss_full, rss_small = full.peak_rss_mib, small.peak_rss_mib
    per_row = (rss_full - rss_small) * MIB / max(rows_full - rows_small, 1)
    base = rss_small - per_row * rows_small / MIB
    grows = rss_full / rss_small > 1.2
    if grows:
        verdict = (
            f"Peak RSS **grows linearly with the table size**: {_n(rss_small)} MiB at "
            f"{_n(rows_small)} rows, {_n(rss_full)} MiB at {_n(rows_full)} rows — about "
            f"{per_row:,.0f} bytes per source row on top of a ~{_n(max(base, 0))} MiB base "
            "(interpreter, Polars, chDB)."
        )
    else:
        verdict = (
            f"Peak RSS stays flat: {_n(rss_small)} MiB at {_n(rows_small)} rows, "
            f"{_n(rss_full)} MiB at {_n(rows_full)} rows "
            f"({full.result['notes'].get('slices', 1)} and "
            f"{small.result['notes'].get('slices', 1)} slices): the hop holds one slice of "
            "orders and the next one being read, whatever the size of the source."
        )
    fix = (
        "The hop reads the source in slices of orders; memory should not grow with the "
        "source unless the slices do (`DWH_FIRST_LOAD_SLICE_ROWS`, and a source without "
        "planner statistics, whose size is then estimated from its pages)."
    )
    return "### Memory\n\n" + verdict + ("\n\n" + fix if grows else "")


def _part2(runs: Mapping[str, Run]) -> str:
    if "cli" not in runs:
        return ""
    cli = runs["cli"]
    out = [
        f"## Part 2 — the whole `dwh run etl` ({_n(cli.source.orders)} orders, "
        f"{_n(cli.result['rows'])} source rows)",
        _table(_RUN_HEADER, _run_rows(runs, ("cli", "ch_pull_etl", "pg_copy_etl"))),
    ]
    if "ch_pull_etl" in runs and "pg_copy_etl" in runs:
        engines = runs["ch_pull_etl"].seconds + runs["pg_copy_etl"].seconds
        ratio = cli.seconds / engines
        out.append(
            _table(
                ("comparison", "seconds", "ratio", "target", "verdict"),
                [
                    [
                        "`dwh run etl` ÷ (ClickHouse pull + PostgreSQL copy)",
                        f"{_s(cli.seconds)} ÷ {_s(engines)}",
                        f"{ratio:.2f}x",
                        "≤ 1.5x",
                        _verdict(ratio <= 1.5),
                    ]
                ],
                "lrrll",
            )
        )
    phases: dict[str, float] = cli.result["phases"]
    if phases:
        out.append(
            "### Where `dwh run etl` spends its time\n\n(each step ends when the CLI prints its "
            "progress line; extraction starts with the first query seen on the source database)"
            "\n\n"
            + _table(
                ("step", "s", "share"),
                [[name, _s(sec), f"{sec / cli.seconds:.0%}"] for name, sec in phases.items()],
            )
        )
    return "\n\n".join(out)


def _interference(runs: Mapping[str, Run]) -> str:
    """One line saying how much other work shared the machine with the contenders."""
    wall = sum(run.process_seconds for run in runs.values())
    other = sum(run.other_cpu_seconds for run in runs.values())
    cores = os.cpu_count() or 1
    share = other / (wall * cores) if wall else 0.0
    line = (
        f"- **Other work on the machine**: {share:.0%} of its CPU capacity while the kept runs "
        f"ran ({_n(other)} CPU s over {_n(wall)} s on {cores} cores)"
    )
    if share > 0.1:
        line += (
            " — the machine was shared with other work; absolute times are "
            "pessimistic, ratios less so. Re-run on a quiet machine for clean figures."
        )
    return line


def render_report(
    *,
    runs: Mapping[str, Run],
    sources: Sequence[Source],
    machine: Mapping[str, str],
    command: str,
    started_at: datetime,
) -> Report:
    """Both renderings of one benchmark run."""
    header = "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `benchmarks/run.py` (see `benchmarks/README.md`); re-run it to refresh.",
            "",
            f"- **Date**: {started_at:%Y-%m-%d %H:%M} UTC",
            f"- **Command**: `{command}`",
            *(f"- **{key}**: {value}" for key, value in machine.items()),
            _interference(runs),
        ]
    )
    body = [s for s in (_sources_section(sources), _part1(runs), _part2(runs)) if s]
    results = "\n\n".join(body)
    markdown = header + "\n\n" + results + "\n\n" + METHOD
    return Report(console=results, markdown=markdown)
