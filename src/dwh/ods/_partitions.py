"""Monthly partitions of ``ods.events``, created on demand before a batch is inserted.

There is deliberately no DEFAULT partition: PostgreSQL refuses to add a monthly partition while
the default one holds rows of that month, so a default would turn one late event into a failed
migration later. Instead the consumer calls :func:`ensure_event_partitions` with the months of
its batch, in the batch's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import sql

from dwh.ods.models import SCHEMA, Events

PARENT_TABLE = Events.__tablename__
PARTITION_NAME = re.compile(rf"^{PARENT_TABLE}_p\d{{6}}$")

# Serialises concurrent creators: CREATE TABLE IF NOT EXISTS is not race-free on its own.
_LOCK_KEY = 0x0D5E_7E17


def partition_name(month: date) -> str:
    """Name of the partition holding ``month`` (``events_pYYYYMM``)."""
    return f"{PARENT_TABLE}_p{month.year:04d}{month.month:02d}"


def _month_start(value: date | datetime) -> date:
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return date(value.year, value.month, 1)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def ensure_event_partitions(
    conn: psycopg.Connection[Any], months: Iterable[date | datetime]
) -> list[str]:
    """Create the missing monthly partitions of ``ods.events`` for ``months``; return their names.

    ``months`` may hold any dates or timestamps (aware ones are converted to UTC, naive ones
    are taken as UTC); each stands for its calendar month in UTC. Runs in the caller's
    transaction, so the partitions commit with the batch that needs them. Existing partitions
    are left alone.
    """
    wanted = sorted({_month_start(value) for value in months})
    if not wanted:
        return []
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    created: list[str] = []
    for month in wanted:
        name = partition_name(month)
        exists = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (SCHEMA, name),
        ).fetchone()
        if exists:
            continue
        lower = datetime(month.year, month.month, 1, tzinfo=UTC)
        upper_month = _next_month(month)
        upper = datetime(upper_month.year, upper_month.month, 1, tzinfo=UTC)
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(SCHEMA, name),
                sql.Identifier(SCHEMA, PARENT_TABLE),
                sql.Literal(lower),
                sql.Literal(upper),
            )
        )
        created.append(name)
    return created
