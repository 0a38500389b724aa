"""Whole-source reads in slices of orders, so that a first load holds one slice at a time.

A slice is a range of order ids with everything under those orders: their pipelines, the
pipelines' stages and deliveries. Every row's parents are in its own slice, so each slice cleans,
builds its facts and loads on its own, and memory is bounded by the slice size, not by the
source's. Boundaries come from the planner's histogram of ``"order".id`` (equal numbers of
orders per slice however the client-supplied ids are distributed), or split the uuid space
evenly when the table has no statistics yet.

``stage`` has no index on ``pipeline_id`` in the source, so each slice's stage read scans the
table: slices are large (a million rows by default) to keep those scans few.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from dwh.engines.postgres import connect, connectorx_url
from dwh.extract.changes import Snapshot, read_snapshot
from dwh.extract.replica import SOURCE_TABLES, read_source_table

_SLICED = ("stage", "delivery", "pipeline", "order")  # children first, as whole tables are read


@dataclass(frozen=True)
class OrderSlice:
    """The orders whose id is in ``[lower, upper)`` (``None``: unbounded)."""

    lower: str | None
    upper: str | None

    def where(self, column: str) -> str:
        """SQL: ``column`` (a uuid) falls in this slice."""
        bounds = []
        if self.lower is not None:
            bounds.append(f"{column} >= '{self.lower}'::uuid")
        if self.upper is not None:
            bounds.append(f"{column} < '{self.upper}'::uuid")
        return " AND ".join(bounds) or "TRUE"


def plan_slices(replica_dsn: str, rows_per_slice: int) -> list[OrderSlice]:
    """Order-id ranges that cover every order, each with about ``rows_per_slice`` source rows
    (estimated from the planner's statistics); one unbounded slice for a small source."""
    with connect(replica_dsn, "DWH_REPLICA_DSN", autocommit=True) as conn:
        row = conn.execute(
            # reltuples is -1 before the first ANALYZE: estimate from the size then.
            "SELECT sum(CASE WHEN reltuples >= 0 THEN reltuples"
            " ELSE pg_relation_size(oid) / 128.0 END)::bigint FROM pg_class"
            " WHERE oid = ANY(ARRAY['\"order\"', 'pipeline', 'stage', 'delivery']::regclass[])"
        ).fetchone()
        count = math.ceil(int(row[0] or 0) / rows_per_slice) if row else 1
        if count <= 1:
            return [OrderSlice(None, None)]
        found = conn.execute(
            "SELECT histogram_bounds::text::uuid[]::text[] FROM pg_stats"
            " WHERE schemaname = current_schema() AND tablename = 'order' AND attname = 'id'"
        ).fetchone()
    histogram: list[str] = list(found[0]) if found and found[0] else []
    if len(histogram) > count:
        # Equal-depth buckets: every bound between two of the chosen ones holds as many ids.
        step = (len(histogram) - 1) / count
        cuts = [histogram[round(i * step)] for i in range(1, count)]
    else:
        cuts = [
            f"{i * (1 << 32) // count:08x}-0000-0000-0000-000000000000" for i in range(1, count)
        ]
    edges: list[str | None] = [None, *sorted(set(cuts)), None]
    return [OrderSlice(lo, hi) for lo, hi in itertools.pairwise(edges)]


def _slice_wheres(piece: OrderSlice) -> dict[str, str]:
    pipelines = f"SELECT id FROM pipeline WHERE {piece.where('order_id')}"
    return {
        "stage": f"pipeline_id IN ({pipelines})",
        "delivery": f"pipeline_id IN ({pipelines})",
        "pipeline": piece.where("order_id"),
        "order": piece.where("id"),
    }


@dataclass(frozen=True)
class SlicedRead:
    """A whole-source read in slices of orders (see the module): the replica's snapshot when
    it began, and the slices."""

    replica_dsn: str
    snapshot: Snapshot
    slices: list[OrderSlice]

    def frames(self) -> Iterator[dict[str, pl.DataFrame]]:
        """Every slice's rows: each source table's frame (:func:`read_source_table` shape:
        declared columns plus ``_xmin``); ``config`` whole with the first slice, empty in the
        others. The next slice is read while the caller works on the current one, so at most
        two are in memory.

        Consistency is that of a whole-table read: the snapshot's ``xmin`` is the next run's
        cursor, anything committed later is read again then, and children are read before
        their parents within a slice, so a child never misses a parent committed before it.
        """
        url = connectorx_url(self.replica_dsn)
        xmin = self.snapshot.widened_xmin()
        empty_config = pl.DataFrame(schema=SOURCE_TABLES["config"] | {"_xmin": pl.Int64()})

        def read(index: int) -> dict[str, pl.DataFrame]:
            wheres = _slice_wheres(self.slices[index])
            frames = {t: read_source_table(url, t, xmin, wheres[t], None) for t in _SLICED}
            frames["config"] = (
                read_source_table(url, "config", xmin, "", None) if index == 0 else empty_config
            )
            return {table: frames[table] for table in SOURCE_TABLES}

        with ThreadPoolExecutor(max_workers=1) as pool:
            ahead: Future[dict[str, pl.DataFrame]] = pool.submit(read, 0)
            for index in range(1, len(self.slices) + 1):
                current = ahead.result()
                if index < len(self.slices):
                    ahead = pool.submit(read, index)
                yield current
                del current


def read_in_slices(replica_dsn: str, rows_per_slice: int) -> SlicedRead:
    """Start a whole-source read in slices of about ``rows_per_slice`` source rows."""
    snapshot = read_snapshot(replica_dsn)
    return SlicedRead(replica_dsn, snapshot, plan_slices(replica_dsn, rows_per_slice))
