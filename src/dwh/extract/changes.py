"""Change capture on the replica without touching the source schema: an ``xmin`` cursor.

Every row version carries ``xmin``, the id of the transaction that wrote it (an insert or an
in-place update). A run first reads the replica's snapshot and remembers its ``xmin``: every
transaction with a smaller id had finished when the run looked, so the next run reads only rows
whose ``xmin`` is at or above it. A transaction still open at read time has an id at or above the
snapshot's ``xmin`` by definition, so its rows are picked up by the next run once it commits —
on a hot standby too, where the snapshot comes from the primary's running transactions.

``xmin`` is 32-bit and wraps around; the snapshot functions return 64-bit ``xid8`` values (the
epoch in the high bits). Cursors are kept as ``xid8``, and each row's ``xmin`` is widened into the
same space with the epoch of the snapshot (a 32-bit value above the current low word belongs to
the previous epoch). A cursor more than 2^31 transactions old cannot be compared safely, and a
cursor ahead of the server means the replica was replaced: both fall back to a full refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import polars as pl

from dwh.engines.postgres import connect, connectorx_url
from dwh.errors import ConfigError
from dwh.extract.replica import SOURCE_TABLES, read_source_table

log = logging.getLogger(__name__)

_LOW_WORD = 1 << 32
_SAFE_AGE = 1 << 31
_CONCURRENT_SCANS = 2


@dataclass(frozen=True)
class Snapshot:
    """The replica's transaction horizon when a run started reading."""

    xmin: int
    """Every transaction id below this had finished (``xid8``): the next run's cursor."""
    next_xid: int
    """The next transaction id to be assigned (``xid8``): nothing newer can be visible."""
    text: str = ""
    """``pg_current_snapshot()`` as text: two equal ones see exactly the same committed data."""

    def widened_xmin(self) -> str:
        """SQL for a row's ``xmin`` widened to ``xid8`` with this snapshot's epoch."""
        low = self.next_xid % _LOW_WORD
        base = self.next_xid - low
        return (
            f"(CASE WHEN xmin::text::bigint <= {low} THEN {base} ELSE {base - _LOW_WORD} END"
            " + xmin::text::bigint)"
        )

    def changed_since(self, cursor: int) -> str:
        """SQL: the row's ``xmin`` is at or after ``cursor`` (one :meth:`usable` accepted).

        ``age()`` counts both back from the server's next transaction id in 32-bit modular
        arithmetic, so the comparison needs no per-row conversion of ``xmin`` to a number
        (a third of the cost of a scan that widens every row)."""
        return f"age(xmin) <= age('{cursor % _LOW_WORD}'::xid)"

    def usable(self, cursor: int) -> bool:
        """Whether ``cursor`` can be compared with this snapshot's rows (else: full refresh)."""
        return cursor <= self.next_xid and self.next_xid - cursor < _SAFE_AGE


@dataclass(frozen=True)
class Changes:
    """Rows changed since each table's cursor, with their widened ``_xmin``."""

    frames: dict[str, pl.DataFrame]
    snapshot: Snapshot
    full: dict[str, bool]
    """Per table: whether it was read whole (no cursor yet, or the cursor was unusable)."""
    unchanged: bool = False
    """Nothing was read: the replica's snapshot equals the one the last complete run saw."""


def read_snapshot(replica_dsn: str) -> Snapshot:
    """The replica's current snapshot horizon."""
    with connect(replica_dsn, "DWH_REPLICA_DSN", autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,"
            " s::text FROM pg_current_snapshot() AS s"
        ).fetchone()
    if row is None:  # pragma: no cover - a SELECT without FROM filter always returns a row
        raise ConfigError("DWH_REPLICA_DSN", "could not read the replica's snapshot")
    return Snapshot(xmin=int(row[0]), next_xid=int(row[1]), text=str(row[2]))


def extract_changes(
    replica_dsn: str,
    cursors: Mapping[str, int | None],
    *,
    seen: str | None = None,
    on_table: Callable[[str, int], None] | None = None,
) -> Changes:
    """Read each source table's rows written at or after its cursor, children before parents.

    ``cursors`` maps source table names to ``xid8`` cursors; a missing or ``None`` cursor reads
    the table whole. Each frame has the table's declared columns plus ``_xmin``.

    ``seen`` is the text of the snapshot a previous run had completely loaded (deletes
    included). If the replica's snapshot is still the same, no transaction has committed
    since, anywhere on its server: nothing is read (finding that out by scanning takes
    seconds on a large source) and every frame is empty. Any commit changes the snapshot,
    even one that touched none of these tables; then the tables are scanned as usual.
    """
    snapshot = read_snapshot(replica_dsn)
    known = [cursors.get(table) for table in SOURCE_TABLES]
    if seen == snapshot.text and all(c is not None and snapshot.usable(c) for c in known):
        empty = {
            table: pl.DataFrame(schema=schema | {"_xmin": pl.Int64()})
            for table, schema in SOURCE_TABLES.items()
        }
        return Changes(empty, snapshot, dict.fromkeys(SOURCE_TABLES, False), unchanged=True)
    url = connectorx_url(replica_dsn)
    xmin = snapshot.widened_xmin()
    wheres: dict[str, str] = {}
    for table in SOURCE_TABLES:
        cursor = cursors.get(table)
        if cursor is not None and not snapshot.usable(cursor):
            log.warning(
                "cursor of %s (%d) cannot be compared with the replica's transactions (next %d):"
                " reading the table whole",
                table,
                cursor,
                snapshot.next_xid,
            )
            cursor = None
        wheres[table] = "" if cursor is None else snapshot.changed_since(cursor)
    full = {table: not where for table, where in wheres.items()}

    def read(table: str) -> pl.DataFrame:
        return read_source_table(url, table, xmin, wheres[table], on_table)

    if any(full.values()):
        # Whole tables: one at a time, or two of them would be in memory at once.
        frames = {table: read(table) for table in SOURCE_TABLES}
    else:
        # Scans that return few rows are the server's work: two at a time take half as long.
        # Children still start first; a child committed with its parent after the parent's
        # scan began is held back and re-read by the next run, as any orphan is.
        with ThreadPoolExecutor(max_workers=_CONCURRENT_SCANS) as pool:
            frames = dict(zip(SOURCE_TABLES, pool.map(read, SOURCE_TABLES), strict=True))
    return Changes(frames=frames, snapshot=snapshot, full=full)


def extract_range(
    replica_dsn: str,
    since: date,
    until: date,
    *,
    on_table: Callable[[str, int], None] | None = None,
) -> dict[str, pl.DataFrame]:
    """Every source row of the orders registered in ``[since, until)`` (UTC days), with the
    tariffs fetched in that range; for backfills, which ignore the cursors."""
    snapshot = read_snapshot(replica_dsn)
    url = connectorx_url(replica_dsn)
    orders = (
        f"SELECT id FROM \"order\" WHERE registered_at >= '{since.isoformat()}'::timestamp"
        f" AT TIME ZONE 'UTC' AND registered_at < '{until.isoformat()}'::timestamp"
        " AT TIME ZONE 'UTC'"
    )
    pipelines = f"SELECT id FROM pipeline WHERE order_id IN ({orders})"
    where = {
        "stage": f"pipeline_id IN ({pipelines})",
        "delivery": f"pipeline_id IN ({pipelines})",
        "pipeline": f"order_id IN ({orders})",
        "order": f"id IN ({orders})",
        "config": (
            f"fetched_at >= '{since.isoformat()}'::timestamp AT TIME ZONE 'UTC'"
            f" AND fetched_at < '{until.isoformat()}'::timestamp AT TIME ZONE 'UTC'"
        ),
    }
    xmin = snapshot.widened_xmin()
    return {
        table: read_source_table(url, table, xmin, where[table], on_table)
        for table in SOURCE_TABLES
    }
