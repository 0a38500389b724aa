"""Writing events to the DDS (``dds.fact_events``) and refreshing what is computed from them.

Every decoded event of a batch is inserted, including those the ODS already had: a crash
between the ODS commit and this insert leaves the DDS behind, and the redelivered batch must
bring it level. ``fact_events`` is a ``ReplacingMergeTree`` keyed by the record's identity, so
re-inserting a record collapses into one row (read with ``final = 1``).

The aggregates computed from events (``dds.hourly_events_mv``, ``marts.events_hourly``,
``marts.stage_latency``) are recomputed from the earliest event time touched, by the same
partition-swap rebuild the ETL uses, so they equal a recomputation from the facts however
often a record is redelivered.

Embedded chDB is locked by the process that opens it, so the client is opened for each step
and closed after it: ``dwh sql`` and the ETL can use the warehouse between batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import polars as pl
from clickhouse_connect.driver.client import Client

from dwh.dds import load_dds
from dwh.dds._rebuild import new_version, rebuild
from dwh.dds.hourly import HOURLY_TABLES
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


def refresh_event_aggregates(client: Client, *, since: datetime | None) -> dict[str, int]:
    """Recompute ``dds.hourly_events_mv`` and the event marts from ``since``'s month on
    (everything when ``None``); returns the rows written per table.

    Only the tables computed from events: :func:`dwh.dds.refresh_hourly` would also recompute
    the order and delivery hours, which an events batch cannot change, and could swap in an
    order hour computed while the ETL is half-way through loading.
    """
    if since is not None and since.tzinfo is not None:
        since = since.astimezone(UTC)
    first_day = since.date() if since is not None else None
    written = {
        HOURLY_EVENTS: rebuild(
            client, HOURLY_EVENTS, HOURLY_TABLES[HOURLY_EVENTS], time_column="hour", since=first_day
        )
    }
    for mart in EVENT_MARTS:
        written[mart.table] = rebuild(
            client,
            mart.table,
            mart.select,
            time_column=mart.day_column,
            since=first_day if mart.day_column else None,
        )
    return written


class DdsEventSink:
    """Inserts events into ``dds.fact_events``; holds a server client, opens chDB per step."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._embedded = dsn.startswith("chdb://")
        self._client: Client | None = None

    @contextmanager
    def session(self) -> Iterator[Client]:
        """A client for one step (closed afterwards when embedded)."""
        if self._embedded:
            client = open_client(self._dsn)
            try:
                yield client
            finally:
                client.close()
            return
        if self._client is None:
            self._client = open_client(self._dsn)
        try:
            yield self._client
        except Exception:
            # A server that failed once may have dropped the session: start afresh next time.
            self.close()
            raise

    def close(self) -> None:
        """Close a held server client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def write(self, events: pl.DataFrame) -> int:
        """Insert the events as ``fact_events`` rows; returns the rows sent."""
        if events.is_empty():
            return 0
        with self.session() as client:
            loaded = load_dds(
                client, {"fact_events": events.select(FACT_COLUMNS)}, version=new_version()
            )
        return loaded["fact_events"]

    def refresh(self, since: datetime | None) -> dict[str, int]:
        """Recompute the event aggregates from ``since`` (see :func:`refresh_event_aggregates`)."""
        with self.session() as client:
            return refresh_event_aggregates(client, since=since)
