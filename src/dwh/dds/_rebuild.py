"""Recompute a derived table (hourly aggregate or mart) from a SELECT and swap it in.

Why partition swaps rather than ``INSERT … SELECT`` of new versions: an aggregate row can
disappear (a re-run moves a delivery to another performer, leaving the old
``(hour, performer)`` group empty), and a new version cannot delete it. Instead the SELECT
fills a staging copy of the table, and every monthly partition in scope is replaced from it
(``REPLACE PARTITION``, atomic per partition) or dropped when the recomputation has no rows
there. Readers see the old or the new partition, never a mix, and each partition holds
exactly one version per key, so even queries without ``FINAL`` are exact.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import date, timedelta

from clickhouse_connect.driver.client import Client

from dwh.dds.cluster import staging_engine

UNPARTITIONED = "all"
_EPOCH = date(1970, 1, 1)
_END = date(2149, 6, 6)  # the last day a ClickHouse Date holds


def new_version() -> int:
    """A ``_version`` for derived rows: microseconds since the epoch (grows run after run)."""
    return time.time_ns() // 1_000


def month_number(day: date) -> int:
    """``toYYYYMM`` of ``day``: the partition id of monthly-partitioned tables."""
    return day.year * 100 + day.month


def _columns(client: Client, table: str) -> list[str]:
    database, name = table.split(".")
    rows = client.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "ORDER BY position",
        parameters={"db": database, "t": name},
    ).result_rows
    if not rows:
        raise LookupError(f"{table} does not exist: run the migrations first")
    return [str(row[0]) for row in rows]


def _partitions(client: Client, table: str) -> set[str]:
    database, name = table.split(".")
    rows = client.query(
        "SELECT DISTINCT partition_id FROM system.parts "
        "WHERE database = {db:String} AND table = {t:String} AND active",
        parameters={"db": database, "t": name},
    ).result_rows
    return {str(row[0]) for row in rows}


def rebuild(
    client: Client,
    table: str,
    select: str,
    *,
    time_column: str | None = None,
    since: date | None = None,
    until: date | None = None,
    parameters: Mapping[str, object] | None = None,
) -> int:
    """Replace the rows of ``table`` (``db.name``) by the result of ``select``; return the
    rows recomputed.

    ``select`` must yield every column of the table except ``_version`` (matched by name). It
    may use the parameters ``{since:Date}`` and ``{until:Date}`` (the first day recomputed and
    the day after the last; 1970-01-01 and 2149-06-06 when open) to prune its reads early:
    rows outside them are dropped anyway.
    With ``since`` and a ``time_column`` (the monthly partition key), only the rows from
    ``since``'s day on are recomputed: the partitions from its month on are replaced, the
    first of them keeping its rows of the days before ``since`` as they are. ``until`` also
    ends the recomputation before that day: the partitions up to its month are replaced, the
    last keeping its rows from ``until`` on. Without them the whole table is rebuilt.
    """
    columns = [name for name in _columns(client, table) if name != "_version"]
    if not time_column:
        since = until = None
    first_month = month_number(since) if since is not None else None
    last_month = month_number(until - timedelta(days=1)) if until is not None else None
    # toDate of a DateTime64(…, 'UTC') column is its UTC day, whatever the server's zone.
    day = f"toDate(`{time_column}`)"
    inside = [f"{day} >= toDate('{since.isoformat()}')"] if since is not None else []
    inside += [f"{day} < toDate('{until.isoformat()}')"] if until is not None else []
    where = f"WHERE {' AND '.join(inside)}" if inside else ""
    database, name = table.split(".")
    staging = f"{database}._rebuild_{name}_{uuid.uuid4().hex[:12]}"
    quoted = ", ".join(f"`{column}`" for column in columns)
    # The copy must not inherit a replicated table's replication path (cluster mode).
    engine_full = client.command(
        "SELECT engine_full FROM system.tables"
        " WHERE database = {db:String} AND name = {name:String}",
        parameters={"db": database, "name": name},
    )
    client.command(f"CREATE TABLE {staging} AS {table} ENGINE = {staging_engine(str(engine_full))}")
    try:
        client.command(
            f"INSERT INTO {staging} ({quoted}, `_version`) "
            f"SELECT {quoted}, {new_version()} FROM ({select}) {where}",
            parameters=dict(parameters or {})
            | ({"since": since or _EPOCH} if "{since:Date}" in select else {})
            | ({"until": until or _END} if "{until:Date}" in select else {}),
        )
        rows = client.query(f"SELECT count() FROM {staging}").result_rows[0][0]
        if inside:
            # Partitions are replaced whole: carry over their rows outside the range (only
            # the first and the last month can have any).
            month = f"toYYYYMM(`{time_column}`)"
            months = [f"{month} >= {first_month}"] if first_month is not None else []
            months += [f"{month} <= {last_month}"] if last_month is not None else []
            client.command(
                f"INSERT INTO {staging} ({quoted}, `_version`) SELECT {quoted}, `_version`"
                f" FROM {table} FINAL WHERE {' AND '.join(months)}"
                f" AND NOT ({' AND '.join(inside)})"
            )
        fresh = _partitions(client, staging)
        current = _partitions(client, table)
        for partition in sorted(fresh):
            client.command(f"ALTER TABLE {table} REPLACE PARTITION ID '{partition}' FROM {staging}")
        for partition in sorted(current - fresh):
            in_scope = partition == UNPARTITIONED or (
                (first_month is None or int(partition) >= first_month)
                and (last_month is None or int(partition) <= last_month)
            )
            if in_scope:
                client.command(f"ALTER TABLE {table} DROP PARTITION ID '{partition}'")
    finally:
        client.command(f"DROP TABLE IF EXISTS {staging} SYNC")
    return int(rows)
