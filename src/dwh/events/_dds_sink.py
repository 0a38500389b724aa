"""Writing events to the DDS (``dds.fact_events``) and refreshing what is computed from them.

Every decoded event of a batch is inserted, including those the ODS already had: a crash
between the ODS commit and this insert leaves the DDS behind, and the redelivered batch must
bring it level. ``fact_events`` is a ``ReplacingMergeTree`` keyed by the record's identity, so
re-inserting a record collapses into one row (read with ``final = 1``).

The aggregates computed from events (``dds.hourly_events_mv``, ``marts.events_hourly``,
``marts.stage_latency``) are recomputed from the earliest event time touched, by the same
partition-swap rebuild the ETL uses, so they equal a recomputation from the facts however
often a record is redelivered.

Embedded chDB is locked by the process that opens it, so the sink does not keep it open for
long: a step closes it unless the consumer says another batch follows at once (a backlog),
and even then it is let go every ``hold_seconds`` for a moment, so ``dwh sql`` and the ETL
(which wait for the lock) get their turn during a long catch-up. Opening chDB costs a tenth
of a second and more as the warehouse grows, and each open keeps some memory: reopening it
for every batch of a backlog was a fifth of a batch's time and made the consumer grow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import polars as pl
from clickhouse_connect.driver.client import Client

from dwh.dds import load_dds
from dwh.dds._rebuild import new_version, rebuild
from dwh.dds.hourly import HOURLY_TABLES, utc_day
from dwh.engines.clickhouse import open_client
from dwh.marts import events_hourly, stage_latency

HOURLY_EVENTS = "dds.hourly_events_mv"
FACT_COLUMNS = (
    "event_id",
    "event_type",
    "topic",
    "partition",
    "offset",
    "event_timestamp",
    "pipeline_id",
    "stage_name",
    "stage_id",
    "status",
    "message",
)
EVENT_MARTS = (events_hourly.MART, stage_latency.MART)
# How long a backlog may keep embedded chDB open, and how long it then stays closed: longer
# than the 0.2 s between a waiting process's attempts to open it (see open_client).
HOLD_SECONDS = 20.0
YIELD_SECONDS = 0.5
# Records per recomputation of the event aggregates: what bounds a refresh's memory.
CHUNK_EVENTS = 250_000


def refresh_event_aggregates(client: Client, *, since: datetime | None) -> dict[str, int]:
    """Recompute ``dds.hourly_events_mv`` and the event marts from ``since``'s day on
    (everything when ``None``); returns the rows written per table.

    Only the tables computed from events: :func:`dwh.dds.refresh_hourly` would also recompute
    the order and delivery hours, which an events batch cannot change, and could swap in an
    order hour computed while the ETL is half-way through loading. The days are recomputed in
    runs of about ``CHUNK_EVENTS`` records, so a refresh after a long backlog needs no more
    memory than one after a short one.
    """
    # (table, SELECT, monthly partition column) of every table computed from events.
    derived = [
        (HOURLY_EVENTS, HOURLY_TABLES[HOURLY_EVENTS], "hour"),
        *((mart.table, mart.select, mart.day_column) for mart in EVENT_MARTS),
    ]
    written = dict.fromkeys((table for table, _, _ in derived), 0)
    for start, end in _day_ranges(client, utc_day(since)):
        for table, select, column in derived:
            written[table] += rebuild(
                client, table, select, time_column=column, since=start, until=end
            )
    return written


def _day_ranges(client: Client, first_day: date | None) -> list[tuple[date | None, date | None]]:
    """Consecutive ``[since, until)`` day ranges from ``first_day`` on (``None``: open), each
    holding about ``CHUNK_EVENTS`` records or one day."""
    per_day = client.query(
        "SELECT toDate(event_timestamp) AS day, count() FROM dds.fact_events"
        " WHERE day >= {since:Date} GROUP BY day ORDER BY day",
        parameters={"since": first_day or date(1970, 1, 1)},
    ).result_rows
    ranges: list[tuple[date | None, date | None]] = []
    start, records = first_day, 0
    for day, count in per_day:
        if records and records + count > CHUNK_EVENTS:
            ranges.append((start, day))
            start, records = day, 0
        records += count
    ranges.append((start, None))
    return ranges


class DdsEventSink:
    """Inserts events into ``dds.fact_events``; holds a server client, and embedded chDB
    while batches follow each other (see the module docstring)."""

    def __init__(
        self,
        dsn: str,
        *,
        hold_seconds: float = HOLD_SECONDS,
        yield_seconds: float = YIELD_SECONDS,
    ) -> None:
        self._dsn = dsn
        self._embedded = dsn.startswith("chdb://")
        self._hold_seconds = hold_seconds
        self._yield_seconds = yield_seconds
        self._client: Client | None = None
        self._opened_at = 0.0
        self._closed_until = 0.0

    @property
    def is_open(self) -> bool:
        """Whether a client is held between steps."""
        return self._client is not None

    @contextmanager
    def session(self, *, keep_open: bool = False) -> Iterator[Client]:
        """A client for one step. Embedded chDB is closed afterwards unless ``keep_open``
        (another step follows at once) and it has been open for less than ``hold_seconds``."""
        if self._client is None:
            wait = self._closed_until - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._client = open_client(self._dsn)
            self._opened_at = time.monotonic()
        try:
            yield self._client
        except Exception:
            # A server that failed once may have dropped the session: start afresh next time.
            self.close()
            raise
        if not self._embedded:
            return
        if not keep_open:
            self.close()
        elif time.monotonic() - self._opened_at >= self._hold_seconds:
            self.close()
            self._closed_until = time.monotonic() + self._yield_seconds

    def close(self) -> None:
        """Close the held client, if any (the next step opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def write(self, events: pl.DataFrame, *, keep_open: bool = False) -> int:
        """Insert the events as ``fact_events`` rows; returns the rows sent. ``keep_open``:
        another batch follows at once (see :meth:`session`)."""
        if events.is_empty():
            if not keep_open:
                self.close()
            return 0
        with self.session(keep_open=keep_open) as client:
            loaded = load_dds(
                client, {"fact_events": events.select(FACT_COLUMNS)}, version=new_version()
            )
        return loaded["fact_events"]

    def refresh(self, since: datetime | None, *, keep_open: bool = False) -> dict[str, int]:
        """Recompute the event aggregates from ``since`` (see :func:`refresh_event_aggregates`)."""
        with self.session(keep_open=keep_open) as client:
            return refresh_event_aggregates(client, since=since)
