"""Whole-source reads in slices of orders, so that a first load holds one slice at a time.

A slice is a range of order ids with everything under those orders: their pipelines, the
pipelines' stages and deliveries. Every row's parents are in its own slice, so each slice cleans,
builds its facts and loads on its own, and memory is bounded by the slice size, not by the
source's. Boundaries come from the planner's histogram of ``"order".id`` (equal numbers of
orders per slice however the client-supplied ids are distributed), or split the uuid space
evenly when the table has no statistics yet.

Nothing leads from an order to its stages and deliveries by index in the source (``stage`` has
no index on ``pipeline_id``), so reading them per slice would scan them once per slice. They
are read once instead, in ranges of their pages, and each row is set aside on local disk
(Arrow files in a directory under ``DWH_HOME``) for the slice of its pipeline's order.
"""

from __future__ import annotations

import fcntl
import itertools
import math
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import connectorx as cx
import polars as pl

from dwh.engines.postgres import connect, connectorx_url
from dwh.extract.changes import Snapshot, read_snapshot
from dwh.extract.replica import SOURCE_TABLES, read_source_table


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


_CHILDREN = {"stage": "id", "delivery": "pipeline_id"}  # read by pipeline, with their keys


@dataclass(frozen=True)
class SlicedRead:
    """A whole-source read in slices of orders (see the module): the replica's snapshot when
    it began, and the slices."""

    replica_dsn: str
    snapshot: Snapshot
    slices: list[OrderSlice]
    spill_root: Path

    def frames(self) -> Iterator[dict[str, pl.DataFrame]]:
        """Every slice's rows: each source table's frame (:func:`read_source_table` shape:
        declared columns plus ``_xmin``); ``config`` whole with the first slice, empty in the
        others. The next slice is read while the caller works on the current one, so at most
        two are in memory.

        ``stage`` and ``delivery`` are read first, each in one pass of ranges of its pages
        (no index leads from an order to them), and set aside on local disk by slice, found
        through their pipeline's order; then each slice reads its orders and pipelines by key.

        Consistency is that of a whole-table read: the snapshot's ``xmin`` is the next run's
        cursor, and anything committed after the snapshot is read again by the next run.
        Children are read before their parents, so a child never misses a parent committed
        before it; a child whose pipeline committed after the pipelines were looked up
        belongs to no slice yet and is left to the next run, and a row moved by an update
        between two page ranges (read twice) is kept in its newest version.
        """
        url = connectorx_url(self.replica_dsn)
        xmin = self.snapshot.widened_xmin()
        empty_config = pl.DataFrame(schema=SOURCE_TABLES["config"] | {"_xmin": pl.Int64()})
        count = len(self.slices)
        with _spill_directory(self.spill_root) as spill:
            if count > 1:
                self._set_children_aside(url, xmin, spill)

            def read(index: int) -> dict[str, pl.DataFrame]:
                piece = self.slices[index]
                frames = {
                    table: read_source_table(url, table, xmin, "", None)
                    if count == 1
                    else _set_aside(spill, table, index)
                    for table in _CHILDREN
                }
                frames["pipeline"] = read_source_table(
                    url, "pipeline", xmin, piece.where("order_id"), None
                )
                frames["order"] = read_source_table(url, "order", xmin, piece.where("id"), None)
                frames["config"] = (
                    read_source_table(url, "config", xmin, "", None) if index == 0 else empty_config
                )
                return {table: frames[table] for table in SOURCE_TABLES}

            yield from _read_ahead(read, count)

    def _set_children_aside(self, url: str, xmin: str, spill: Path) -> None:
        """Read ``stage`` and ``delivery`` whole, page range by page range, and write each
        row to its slice's files under ``spill``."""
        bounds = pl.Series([piece.lower for piece in self.slices[1:]], dtype=pl.String)
        owners: pl.DataFrame = cx.read_sql(
            url, "SELECT id AS pipeline_id, order_id FROM pipeline", return_type="polars"
        )
        slice_of = bounds.search_sorted(owners.get_column("order_id").cast(pl.String), "right")
        lookup = _Owners.of(owners.get_column("pipeline_id").cast(pl.String), slice_of)
        with connect(self.replica_dsn, "DWH_REPLICA_DSN", autocommit=True) as conn:
            pages = {
                table: int(
                    (
                        conn.execute(
                            "SELECT pg_relation_size(%s::regclass)"
                            " / current_setting('block_size')::int",
                            (table,),
                        ).fetchone()
                        or (0,)
                    )[0]
                )
                for table in _CHILDREN
            }
        ranges = [
            (table, part, where)
            for table in _CHILDREN
            for part, where in enumerate(
                _page_ranges(pages[table], _RANGES_PER_SLICE * len(self.slices))
            )
        ]

        def read(index: int) -> pl.DataFrame:
            table, _, where = ranges[index]
            return read_source_table(url, table, xmin, where, None)

        # Nothing else runs meanwhile: two reads at a time keep both cores busy.
        reads = _read_ahead(read, len(ranges), workers=2)
        for (table, part, _), frame in zip(ranges, reads, strict=True):
            routed = lookup.route(frame)
            for (index,), rows in routed.partition_by(_SLICE, as_dict=True).items():
                rows.drop(_SLICE).write_ipc(spill / f"{table}-{index}-{part}.arrow")


_SLICE = "_slice"


def _hash(ids: pl.Series, seed: int) -> pl.Series:
    return ids.hash(seed)


@dataclass(frozen=True)
class _Owners:
    """Every pipeline's slice, for children to find by their ``pipeline_id``.

    Sorted by a 64-bit hash of the id that no two pipelines share (another seed is tried if
    two do), so that a child's pipeline is one binary search on integers away; the ids are
    compared too, so a child of a pipeline not here is never routed by a hash it happens to
    share. A binary search on the 36-character ids themselves took longer than reading the
    rows (8 s of a 12 s pass over 5.7M stages and deliveries).
    """

    ids: pl.Series
    slices: pl.Series
    hashes: pl.Series
    seed: int

    @classmethod
    def of(cls, ids: pl.Series, slices: pl.Series) -> _Owners:
        """The lookup of ``ids`` (unique pipeline ids) → ``slices`` (their slice indexes)."""
        seed = 0
        while (hashes := _hash(ids, seed)).n_unique() < hashes.len():
            seed += 1
        order = hashes.arg_sort()
        return cls(
            ids.gather(order), slices.cast(pl.UInt16).gather(order), hashes.gather(order), seed
        )

    def route(self, children: pl.DataFrame) -> pl.DataFrame:
        """``children`` with their pipeline's slice (column ``_slice``); children of
        pipelines not in the lookup are left out."""
        wanted = children.get_column("pipeline_id")
        if self.ids.is_empty():
            return children.clear().with_columns(pl.lit(0, pl.UInt16).alias(_SLICE))
        hashes = _hash(wanted, self.seed)
        at = self.hashes.search_sorted(hashes, "left").clip(upper_bound=self.ids.len() - 1)
        found = (self.hashes.gather(at) == hashes) & (self.ids.gather(at) == wanted)
        routed = children.with_columns(self.slices.gather(at).alias(_SLICE))
        return routed if found.all(ignore_nulls=False) else routed.filter(found)


# Page ranges per slice: each range read holds a quarter of a slice's children in memory.
_RANGES_PER_SLICE = 4


def _page_ranges(pages: int, count: int) -> list[str]:
    """SQL conditions on ``ctid`` splitting a table of ``pages`` pages into ``count`` ranges;
    the last is open-ended (rows appended meanwhile land there)."""
    step = max(1, math.ceil(pages / count))
    cuts = [step * i for i in range(1, count) if step * i < pages]
    edges: list[int | None] = [None, *cuts, None]
    conditions = []
    for lo, hi in itertools.pairwise(edges):
        bounds = []
        if lo is not None:
            bounds.append(f"ctid >= '({lo},0)'::tid")
        if hi is not None:
            bounds.append(f"ctid < '({hi},0)'::tid")
        conditions.append(" AND ".join(bounds) or "TRUE")
    return conditions


def _set_aside(spill: Path, table: str, index: int) -> pl.DataFrame:
    """The rows of ``table`` set aside for slice ``index``, newest version of each key."""
    schema = SOURCE_TABLES[table] | {"_xmin": pl.Int64()}
    files = sorted(spill.glob(f"{table}-{index}-*.arrow"))
    frame = pl.concat([pl.read_ipc(f) for f in files], rechunk=True) if files else None
    if frame is None:
        return pl.DataFrame(schema=schema)
    key = _CHILDREN[table]
    if frame.get_column(key).is_duplicated().any():
        frame = frame.sort("_xmin").unique(subset=key, keep="last", maintain_order=True)
    return frame


@contextmanager
def _spill_directory(root: Path) -> Iterator[Path]:
    """A new directory under ``root``, removed afterwards; the directories of reads that died
    without removing theirs (a killed process) are removed first.

    Each directory holds a lock on its ``.lock`` file while in use; the kernel releases it
    when its process dies however it dies, so a directory whose lock can be taken is stale.
    """
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("slices-*"):
        # Locked: another read is using it; gone: another read removed it meanwhile.
        with suppress(BlockingIOError, FileNotFoundError), (old / ".lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(old, ignore_errors=True)
    # Locked before it gets a name the sweep above looks for.
    new = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    spill = root / f"slices-{new.name.removeprefix('.new-')}"
    try:
        with (new / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            new.rename(spill)
            yield spill
    finally:
        shutil.rmtree(spill, ignore_errors=True)
        shutil.rmtree(new, ignore_errors=True)


_T = TypeVar("_T")


def _read_ahead(read: Callable[[int], _T], count: int, workers: int = 1) -> Iterator[_T]:
    """``read(0)`` … ``read(count - 1)`` in order, the next ``workers`` started while the
    current one is used."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque(pool.submit(read, index) for index in range(min(workers, count)))
        for index in range(workers, count + workers):
            current = pending.popleft().result()
            if index < count:
                pending.append(pool.submit(read, index))
            yield current
            del current


def read_in_slices(replica_dsn: str, rows_per_slice: int, spill_root: Path) -> SlicedRead:
    """Start a whole-source read in slices of about ``rows_per_slice`` source rows; rows read
    ahead of their slice wait on disk under ``spill_root``."""
    snapshot = read_snapshot(replica_dsn)
    slices = plan_slices(replica_dsn, rows_per_slice)
    return SlicedRead(replica_dsn, snapshot, slices, spill_root)
