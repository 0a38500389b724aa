"""What every contender shares: the result protocol, PostgreSQL helpers and memory probes.

Each contender runs as its own process (``python -m contenders.<name> …``) so that its peak RSS
is its own; it prints one ``RESULT {json}`` line that ``run.py`` parses. Times inside the
result are the contender's *work* (the rows moving), measured with ``perf_counter`` after its
imports and engine start-up; ``run.py`` adds the process wall time and the peak RSS it reads
from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

RESULT_PREFIX = "RESULT "

#: The five source tables, parents before children (the order a copy with keys needs).
SOURCE_TABLES = ("config", "order", "pipeline", "stage", "delivery")


@dataclass
class Result:
    """What a contender reports: rows moved, the seconds they took, and how they split."""

    contender: str
    rows: int
    seconds: float
    pipelines: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    #: Peak RSS (MiB) of this process after each phase, for where-does-memory-go questions.
    peak_rss_after: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_tables(
        cls, contender: str, counts: dict[str, int], seconds: float, watch: Stopwatch
    ) -> Result:
        """The result of a contender that moved ``counts`` rows per source table in
        ``seconds``, its phases timed by ``watch``."""
        return cls(
            contender=contender,
            rows=sum(counts.values()),
            seconds=seconds,
            pipelines=counts["pipeline"],
            rows_by_table=counts,
            phases=watch.phases,
            peak_rss_after=watch.peak_rss_after,
        )

    def emit(self) -> None:
        """Print the result line ``run.py`` looks for (stdout, last line wins)."""
        sys.stdout.flush()
        print(RESULT_PREFIX + json.dumps(asdict(self)), flush=True)


def parse_result(stdout: str) -> dict[str, Any]:
    """The last ``RESULT`` line of a contender's output, decoded."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            decoded: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return decoded
    raise ValueError("the contender printed no RESULT line")


def base_parser(description: str) -> argparse.ArgumentParser:
    """Arguments every contender takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--source-dsn", required=True, help="PostgreSQL DSN of the source.")
    parser.add_argument("--workdir", required=True, help="Scratch directory of this contender.")
    return parser


def peak_rss_mib() -> float:
    """Peak RSS of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stopwatch:
    """Named phases measured back to back, with the process's peak RSS after each (a phase
    entered again, e.g. once per slice, adds up)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.peak_rss_after: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name`` (added to the phase's earlier blocks, if any)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - started
            self.peak_rss_after[name] = round(peak_rss_mib(), 1)

    def total(self, *names: str) -> float:
        """Sum of the named phases (all of them when none is named)."""
        return sum(self.phases[n] for n in names or tuple(self.phases))


def with_database(dsn: str, database: str) -> str:
    """The same server DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def database_of(dsn: str) -> str:
    """The database name in a DSN."""
    return urlsplit(dsn).path.lstrip("/")


def recreate_database(dsn: str) -> None:
    """Drop (if present) and create the DSN's database: every measured load starts empty."""
    name = database_of(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(dsn: str) -> None:
    """Drop the DSN's database if it exists."""
    name = database_of(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_rows(dsn: str) -> dict[str, int]:
    """Exact row count of every source table."""
    with psycopg.connect(dsn) as conn:
        counts: dict[str, int] = {}
        for table in SOURCE_TABLES:
            row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts
