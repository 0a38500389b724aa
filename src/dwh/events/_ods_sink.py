"""Writing a decoded batch to the ODS: ``ods.events`` and ``ods.events_dead_letter``.

One batch is one transaction: the monthly partitions it needs, the events
(``ON CONFLICT DO NOTHING``: a redelivered record has the same ``event_id`` and timestamp),
the dead letters (unique per topic/partition/offset, so a replay adds none) and the events
row of ``ods.load_state`` commit together. Events are first COPied straight into
``ods.events`` under a savepoint (Polars writes the CSV, no per-row Python): new records, the
usual case, cost one pass. If any is there already (a redelivery), the savepoint is rolled
back and the batch goes through a temporary staging table and one set-based
``INSERT … ON CONFLICT DO NOTHING``.

A record that passed its contract can still be refused by PostgreSQL (jsonb has limits JSON
has not). Such a record must not stall the stream: the batch is then bisected under
savepoints until the refused records are isolated, and those become dead letters.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import psycopg

from dwh.engines.postgres import connect
from dwh.errors import mask_secrets
from dwh.ods import ensure_event_partitions

log = logging.getLogger(__name__)

SETTING = "DWH_ODS_DSN"
STATE_KEY = "events"  # ods.load_state.table_name of the events path
_STAGE = "_stg_events"
_ODS_COLUMNS = (
    "event_id",
    "event_timestamp",
    "event_type",
    "event_data",
    "topic",
    "partition",
    "offset",
)
_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
    event_id uuid, event_timestamp timestamptz, event_type text, event_data text,
    topic text, "partition" integer, "offset" bigint
) ON COMMIT DELETE ROWS
"""
_INSERT_EVENTS = f"""
INSERT INTO ods.events (event_id, event_timestamp, event_type, event_data, topic,
                        "partition", "offset")
SELECT event_id, event_timestamp, event_type, event_data::jsonb, topic, "partition", "offset"
FROM {_STAGE}
ON CONFLICT DO NOTHING
"""
_INSERT_DEAD_LETTER = """
INSERT INTO ods.events_dead_letter (topic, "partition", "offset", raw, error)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (topic, "partition", "offset") DO NOTHING
"""
# The load_state cursor of the events path holds the earliest event time not yet reflected in
# the hourly table and marts (ISO text, NULL when none): committed with the data, it survives
# a crash between a batch and the next refresh.
_MARK_PENDING = """
INSERT INTO ods.load_state (table_name, cursor, last_run_at, last_run_rows, last_run_status)
VALUES (%(key)s, %(pending)s, now(), %(rows)s, 'ok')
ON CONFLICT (table_name) DO UPDATE SET
    cursor = CASE
        WHEN excluded.cursor IS NULL THEN ods.load_state.cursor
        WHEN ods.load_state.cursor IS NULL THEN excluded.cursor
        ELSE least(ods.load_state.cursor::timestamptz, excluded.cursor::timestamptz)::text
    END,
    last_run_at = excluded.last_run_at,
    last_run_rows = excluded.last_run_rows,
    last_run_status = excluded.last_run_status
"""


@dataclass(frozen=True)
class OdsWrite:
    """What one batch did to the ODS: new events, events already there, dead letters written
    (new ones only) and the event ids PostgreSQL refused (now dead letters too)."""

    inserted: int
    duplicates: int
    dead_letters: int
    refused_ids: frozenset[str]


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        datetime_format="%Y-%m-%dT%H:%M:%S%.6f%:z",
        null_value="",
    )
    return buffer.getvalue()


def _months(frame: pl.DataFrame) -> Iterable[date]:
    if frame.is_empty():
        return []
    months = frame.select(pl.col("event_timestamp").dt.truncate("1mo").unique())
    return [value.date() for value in months.to_series().to_list()]


class OdsEventSink:
    """Writes decoded batches to the ODS over one long-lived connection (reopened on loss)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            self._conn = connect(self._dsn, SETTING)
            self._conn.execute(_CREATE_STAGE)
            self._conn.commit()
        return self._conn

    def close(self) -> None:
        """Close the connection (a later write opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(
        self, events: pl.DataFrame, dead_letters: pl.DataFrame, *, pending_since: datetime | None
    ) -> OdsWrite:
        """Write one batch in one transaction; ``pending_since`` (the batch's earliest event
        time) is folded into the events row of ``ods.load_state``."""
        conn = self._connection()
        try:
            with conn.transaction():
                ensure_event_partitions(conn, _months(events))
                refused: list[tuple[dict[str, Any], str]] = []
                inserted = self._insert_events(conn, events, refused)
                dead = self._insert_dead_letters(conn, dead_letters, refused)
                conn.execute(
                    _MARK_PENDING,
                    {
                        "key": STATE_KEY,
                        "pending": None if pending_since is None else pending_since.isoformat(),
                        "rows": inserted,
                    },
                )
        except psycopg.OperationalError:
            self.close()
            raise
        accepted = events.height - len(refused)
        return OdsWrite(
            inserted=inserted,
            duplicates=accepted - inserted,
            dead_letters=dead,
            refused_ids=frozenset(str(row["event_id"]) for row, _ in refused),
        )

    def _insert_events(
        self,
        conn: psycopg.Connection[Any],
        events: pl.DataFrame,
        refused: list[tuple[dict[str, Any], str]],
    ) -> int:
        """Insert ``events``: optimistically by COPY straight into ``ods.events`` (the usual
        case: none of them is there yet), else through the staging merge."""
        if events.is_empty():
            return 0
        columns = ", ".join(f'"{c}"' for c in _ODS_COLUMNS)
        try:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY ods.events ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(_csv(events.select(_ODS_COLUMNS)))
                return events.height
        except (psycopg.errors.UniqueViolation, psycopg.DataError):
            # A redelivery (some records are there already) or a record PostgreSQL refuses:
            # the savepoint is rolled back and the merge sorts it out row by row.
            pass
        return self._merge_events(conn, events, refused)

    def _merge_events(
        self,
        conn: psycopg.Connection[Any],
        events: pl.DataFrame,
        refused: list[tuple[dict[str, Any], str]],
    ) -> int:
        """Insert ``events`` skipping those already loaded; on a data error split the batch
        in halves under savepoints until the refused records are isolated."""
        if events.is_empty():
            return 0
        try:
            with conn.transaction(), conn.cursor() as cur:
                columns = ", ".join(f'"{c}"' for c in _ODS_COLUMNS)
                with cur.copy(f"COPY {_STAGE} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(_csv(events.select(_ODS_COLUMNS)))
                cur.execute(_INSERT_EVENTS)
                inserted = cur.rowcount
                cur.execute(f"TRUNCATE {_STAGE}")
                return inserted
        except psycopg.DataError as exc:
            if events.height == 1:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "data error"
                refused.append((events.row(0, named=True), reason))
                return 0
            half = events.height // 2
            return self._merge_events(conn, events.head(half), refused) + self._merge_events(
                conn, events.slice(half), refused
            )

    def _insert_dead_letters(
        self,
        conn: psycopg.Connection[Any],
        dead_letters: pl.DataFrame,
        refused: list[tuple[dict[str, Any], str]],
    ) -> int:
        rows = [
            (r["topic"], r["partition"], r["offset"], r["raw"], r["error"])
            for r in dead_letters.iter_rows(named=True)
        ]
        rows += [
            (
                r["topic"],
                r["partition"],
                r["offset"],
                str(r["event_data"]).encode(),
                f"refused by PostgreSQL: {mask_secrets(reason)}",
            )
            for r, reason in refused
        ]
        if not rows:
            return 0
        with conn.cursor() as cur:
            written = 0
            for row in rows:
                cur.execute(_INSERT_DEAD_LETTER, row)
                written += cur.rowcount
        return written

    def pending_since(self) -> datetime | None:
        """The earliest event time not yet refreshed into the aggregates (from load_state)."""
        conn = self._connection()
        with conn.transaction():
            row = conn.execute(
                "SELECT cursor FROM ods.load_state WHERE table_name = %s", (STATE_KEY,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return datetime.fromisoformat(str(row[0])).astimezone(UTC)

    def clear_pending(self, seen: datetime | None) -> None:
        """Forget the pending refresh if it is still ``seen`` (a batch since then keeps it)."""
        if seen is None:
            return
        conn = self._connection()
        with conn.transaction():
            conn.execute(
                "UPDATE ods.load_state SET cursor = NULL"
                " WHERE table_name = %s AND cursor::timestamptz = %s",
                (STATE_KEY, seen),
            )

    def drop_expired_partitions(
        self, retention_months: int, now: datetime | None = None
    ) -> list[str]:
        """Drop the monthly partitions of ``ods.events`` wholly older than ``retention_months``
        months before ``now``'s month; 0 keeps everything. Returns the dropped names."""
        if retention_months <= 0:
            return []
        now = datetime.now(UTC) if now is None else now.astimezone(UTC)
        months = now.year * 12 + now.month - 1 - retention_months
        keep_from = date(months // 12, months % 12 + 1, 1)
        cutoff = f"events_p{keep_from.year:04d}{keep_from.month:02d}"
        conn = self._connection()
        dropped: list[str] = []
        with conn.transaction():
            rows = conn.execute(
                "SELECT c.relname FROM pg_catalog.pg_inherits i"
                " JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'ods.events'::regclass ORDER BY c.relname"
            ).fetchall()
            for (name,) in rows:
                # events_pYYYYMM sorts by month; anything else is not ours to drop.
                if str(name).startswith("events_p") and len(name) == 14 and name < cutoff:
                    conn.execute(f'DROP TABLE ods."{name}"')
                    dropped.append(str(name))
        return dropped
