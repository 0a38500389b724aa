"""Detecting rows the source hard-deleted, and marking them in the ODS (never dropping them).

The platform deletes whole orders (its cron removes orders older than 365 days, cascading to
pipelines, stages and deliveries), so reconciliation works on order keys, in batches: per UTC
day of ``registered_at`` (which never changes) both sides compute a count and a checksum of the
keys; only days whose fingerprints differ have their keys compared. An order in the ODS but no
longer in the source is marked deleted with everything under it. Keys only the source has are
new rows the next run brings in; they are not this module's business.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import connectorx as cx
import polars as pl

from dwh.engines.postgres import connect, connectorx_url

_FINGERPRINT = """
SELECT (registered_at AT TIME ZONE 'UTC')::date AS day, count(*) AS keys,
       sum(uuid_hash(id)::bigint) AS checksum
FROM {table} {where} GROUP BY 1
"""
_KEYS = """
SELECT id::text AS id FROM {table}
WHERE registered_at >= '{start}'::timestamp AT TIME ZONE 'UTC'
  AND registered_at < '{end}'::timestamp AT TIME ZONE 'UTC' {extra}
"""
_DAYS_PER_BATCH = 31

# Orders first (their count is the result), then everything under them, in one transaction.
_GONE_PIPELINES = "SELECT id FROM ods.pipelines WHERE order_id IN (SELECT id FROM _gone)"
_MARKS = (
    "UPDATE ods.orders SET _deleted_at = now(), _loaded_at = now()"
    " WHERE id IN (SELECT id FROM _gone) AND _deleted_at IS NULL",
    "UPDATE ods.pipelines SET _deleted_at = now(), _loaded_at = now()"
    " WHERE order_id IN (SELECT id FROM _gone) AND _deleted_at IS NULL",
    "UPDATE ods.stages SET _deleted_at = now(), _loaded_at = now()"
    f" WHERE pipeline_id IN ({_GONE_PIPELINES}) AND _deleted_at IS NULL",
    "UPDATE ods.deliveries SET _deleted_at = now(), _loaded_at = now()"
    f" WHERE pipeline_id IN ({_GONE_PIPELINES}) AND _deleted_at IS NULL",
)


def _fingerprints(url: str, table: str, where: str = "") -> pl.DataFrame:
    query = _FINGERPRINT.format(table=table, where=where)
    frame: pl.DataFrame = cx.read_sql(url, query, return_type="polars")
    return frame.cast({"day": pl.Date(), "keys": pl.Int64(), "checksum": pl.Int64()})


def _keys(url: str, table: str, days: list[date], extra: str = "") -> set[str]:
    found: set[str] = set()
    for start in range(0, len(days), _DAYS_PER_BATCH):
        batch = days[start : start + _DAYS_PER_BATCH]
        ranges = [(day, day + timedelta(days=1)) for day in batch]
        queries = [
            _KEYS.format(table=table, start=lo.isoformat(), end=hi.isoformat(), extra=extra)
            for lo, hi in ranges
        ]
        frame = cx.read_sql(url, " UNION ALL ".join(queries), return_type="polars")
        found.update(frame.get_column("id").to_list())
    return found


def deleted_order_ids(replica_dsn: str, ods_dsn: str) -> list[str]:
    """Order ids the ODS holds as live that the source no longer has."""
    source_url, ods_url = connectorx_url(replica_dsn), connectorx_url(ods_dsn)
    live = "AND _deleted_at IS NULL"
    # Two servers (or two scans of one): side by side they take the time of the longer.
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_days = pool.submit(_fingerprints, source_url, '"order"')
        ods = _fingerprints(ods_url, "ods.orders", "WHERE _deleted_at IS NULL")
        source = source_days.result()
    differing = (
        ods.join(source, on="day", how="left", suffix="_source")
        .filter(
            pl.col("keys_source").is_null()
            | (pl.col("keys") != pl.col("keys_source"))
            | (pl.col("checksum") != pl.col("checksum_source"))
        )
        .get_column("day")
        .sort()
        .to_list()
    )
    if not differing:
        return []
    gone = _keys(ods_url, "ods.orders", differing, live) - _keys(source_url, '"order"', differing)
    return sorted(gone)


def mark_orders_deleted(ods_dsn: str, order_ids: list[str]) -> int:
    """Mark orders and everything under them deleted in the ODS; returns the orders marked."""
    if not order_ids:
        return 0
    with connect(ods_dsn, "DWH_ODS_DSN") as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE _gone ON COMMIT DROP AS SELECT unnest(%s::uuid[]) AS id",
            (order_ids,),
        )
        counts = [cur.execute(statement).rowcount for statement in _MARKS]
    return counts[0]
