"""The batch ETL: replica → ODS → DDS → marts, as plain library steps.

Each step is a function the Prefect flow wraps in a task and the CLI calls directly, so the
same code runs with and without an orchestrator. A run is incremental and exact:

1. the replica's rows written since each table's ``xmin`` cursor are read (children first);
2. they are cleaned and merged into the ODS together with the new cursors, in one transaction;
3. orders hard-deleted in the source are marked (never dropped) in the ODS;
4. every order whose ODS rows changed since the DDS watermark is rebuilt as new fact versions
   in ClickHouse; the hourly tables and marts whose inputs these versions change are
   recomputed from the first affected day on (the plan is recorded in the ODS before the
   versions land, so a crash cannot lose it), and only then the watermark moves.

State is always committed after the data it covers, so a run killed at any point leaves work
the next run redoes, never work it skips. ``full_refresh`` re-reads everything (still merging:
history survives); a backfill rebuilds the orders registered in a date range.
"""

from __future__ import annotations

import json
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
import psycopg
from clickhouse_connect.driver.client import Client

from dwh.config import Settings
from dwh.dds import (
    apply_migrations,
    build_fact_stages,
    dim_performers_from_counts,
    load_dds,
    merge_dim_performers,
)
from dwh.dds import build_dds as build_dds_frames
from dwh.dds.impact import merge_plans
from dwh.engines.clickhouse import open_client
from dwh.engines.embedded import Dsns
from dwh.engines.postgres import connect
from dwh.errors import DwhError
from dwh.extract import (
    Changes,
    SlicedRead,
    Snapshot,
    extract_changes,
    extract_range,
    read_in_slices,
)
from dwh.failpoints import failpoint
from dwh.marts import Plan, refresh_plan, refresh_planned
from dwh.observability import observed_etl, record_quarantined
from dwh.ods import (
    LoadCounts,
    OdsBatch,
    OdsChanges,
    clean_snapshot,
    deleted_order_ids,
    first_load_changes,
    known_parents,
    load_ods,
    load_ods_in_slices,
    mark_orders_deleted,
    ods_changes_ahead,
    ods_watermark,
    read_ods_changes,
    read_performer_changes,
    upgrade_ods,
)
from dwh.ods.models import DATA_TABLES, SCHEMA
from dwh.ods.snapshot import ODS_TABLES

Progress = Callable[[str], None]

_RUN_LOCK = 0x0D5_E71  # one ETL run per ODS at a time
_DDS_STATE = "dds"  # ods.load_state row whose cursor is the DDS watermark
_REFRESH_STATE = "refresh"  # ods.load_state row whose cursor holds the pending refresh plan
_SNAPSHOT_STATE = "replica_snapshot"  # ods.load_state row: the replica snapshot fully loaded
_KEYS = {"configs": "id", "orders": "id", "pipelines": "id", "stages": "id"}


@dataclass
class EtlReport:
    """What one run moved, per layer and table."""

    mode: str = "incremental"
    extracted: dict[str, int] = field(default_factory=dict)
    ods: dict[str, LoadCounts] = field(default_factory=dict)
    quarantined: int = 0
    held_back: int = 0
    deleted_orders: int = 0
    replica_unchanged: bool = False
    """The replica's snapshot had not moved since the last complete run: nothing was read."""
    dds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    """Seconds per step, in the order they ran."""


def _new_version() -> int:
    """The ``_version`` of the DDS rows a load inserts: microseconds since the epoch, so a
    later load always wins in ReplacingMergeTree."""
    return time.time_ns() // 1000


@contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's seconds to ``steps[name]`` (a step run once per slice adds up)."""
    started = time.perf_counter()
    yield
    steps[name] = steps.get(name, 0.0) + time.perf_counter() - started


def migrate(dsns: Dsns) -> list[str]:
    """Bring the ODS (Alembic) and ClickHouse (``schemas/``) up to date; returns applied files."""
    # Alembic would report an unreachable server as a long traceback; fail early and plainly.
    connect(dsns.ods, "DWH_ODS_DSN").close()
    upgrade_ods(dsns.ods)
    with clickhouse_session(dsns) as client:
        return apply_migrations(client)


@contextmanager
def run_lock(dsns: Dsns) -> Iterator[None]:
    """Hold the ODS-wide run lock for the duration; a second concurrent run fails at once."""
    conn = connect(dsns.ods, "DWH_ODS_DSN", autocommit=True)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_RUN_LOCK,)).fetchone()
    if not row or not row[0]:
        conn.close()
        raise DwhError("another ETL run is in progress on this ODS; try again when it finishes")
    try:
        yield
    finally:
        conn.close()  # ending the session releases the lock


@contextmanager
def clickhouse_session(dsns: Dsns) -> Iterator[Client]:
    """Short-lived ClickHouse client: chDB locks its directory, so hold it only while needed."""
    client = open_client(dsns.clickhouse)
    try:
        yield client
    finally:
        client.close()


def read_cursors(dsns: Dsns) -> dict[str, int | None]:
    """The ``xmin`` cursor of every source table, from ``ods.load_state``."""
    with connect(dsns.ods, "DWH_ODS_DSN") as conn:
        rows: dict[str, str | None] = dict(
            conn.execute("SELECT table_name, cursor FROM ods.load_state").fetchall()
        )
    cursors: dict[str, int | None] = {}
    for source, table in ODS_TABLES.items():
        cursor = rows.get(table)
        cursors[source] = int(cursor) if cursor else None
    return cursors


def _state_cursor(dsns: Dsns, name: str) -> str | None:
    """The cursor of the ``ods.load_state`` row ``name``."""
    with connect(dsns.ods, "DWH_ODS_DSN") as conn:
        row = conn.execute(
            "SELECT cursor FROM ods.load_state WHERE table_name = %s", (name,)
        ).fetchone()
    return str(row[0]) if row and row[0] else None


def _write_state(
    conn: psycopg.Connection[Any], name: str, cursor: str | None, rows: int, status: str
) -> None:
    """Upsert the ``ods.load_state`` row ``name``."""
    conn.execute(
        "INSERT INTO ods.load_state AS s"
        " (table_name, cursor, last_run_at, last_run_rows, last_run_status)"
        " VALUES (%s, %s, now(), %s, %s)"
        " ON CONFLICT (table_name) DO UPDATE SET cursor = excluded.cursor,"
        " last_run_at = excluded.last_run_at, last_run_rows = excluded.last_run_rows,"
        " last_run_status = excluded.last_run_status",
        (name, cursor, rows, status),
    )


def dds_watermark(dsns: Dsns) -> datetime | None:
    """The newest ODS change already propagated to the DDS (``None``: nothing yet)."""
    cursor = _state_cursor(dsns, _DDS_STATE)
    return datetime.fromisoformat(cursor) if cursor else None


def extract(dsns: Dsns, progress: Progress | None = None, *, full_refresh: bool = False) -> Changes:
    """Rows changed since the stored cursors (whole tables where a cursor is missing, and all
    of them with ``full_refresh``); nothing at all if the replica's snapshot is still the one
    the last complete run loaded (see :func:`dwh.extract.extract_changes`)."""
    say = progress or (lambda _message: None)
    cursors: Mapping[str, int | None] = {} if full_refresh else read_cursors(dsns)
    return extract_changes(
        dsns.replica,
        cursors,
        seen=None if full_refresh else _state_cursor(dsns, _SNAPSHOT_STATE),
        on_table=lambda table, rows: say(f"extracted {table}: {rows} rows"),
    )


def clean(dsns: Dsns, raw: Mapping[str, pl.DataFrame]) -> OdsBatch:
    """ODS cleanup of an extracted batch; parents already in the ODS count as known."""
    return clean_snapshot(raw, known=known_parents(dsns.ods, raw))


def _held_back_xmins(raw: Mapping[str, pl.DataFrame], batch: OdsBatch) -> dict[str, int]:
    """Per ODS table holding rows back, the smallest ``_xmin`` among them."""
    xmins: dict[str, int] = {}
    for source, table in ODS_TABLES.items():
        held = batch.held_back[table]
        if held.height:
            key = _KEYS.get(table, "pipeline_id")
            waiting = raw[source].join(held.select(key), on=key, how="semi")
            xmins[table] = int(waiting.get_column("_xmin").min())  # type: ignore[arg-type]
    return xmins


def _cursors(snapshot: Snapshot, held_back: Mapping[str, int]) -> dict[str, str]:
    """New cursor per ODS table: the snapshot's ``xmin``, or earlier to re-read held-back rows."""
    return {
        table: str(min(snapshot.xmin, held_back.get(table, snapshot.xmin)))
        for table in ODS_TABLES.values()
    }


def next_cursors(changes: Changes, batch: OdsBatch) -> dict[str, str]:
    """New cursor per ODS table: the snapshot's ``xmin``, or earlier to re-read held-back rows."""
    return _cursors(changes.snapshot, _held_back_xmins(changes.frames, batch))


def load_ods_layer(
    dsns: Dsns, batch: OdsBatch, cursors: Mapping[str, str] | None, *, full_snapshot: bool
) -> dict[str, LoadCounts]:
    """Merge a cleaned batch and its cursors into the ODS in one transaction."""
    return load_ods(
        dsns.ods, batch.tables, batch.quarantined, full_snapshot=full_snapshot, cursors=cursors
    )


def is_first_load(dsns: Dsns) -> bool:
    """Whether the ODS is empty: the run is a first load (see :func:`first_load`)."""
    probe = " AND ".join(f"NOT EXISTS (SELECT 1 FROM {SCHEMA}.{t})" for t in DATA_TABLES)
    with connect(dsns.ods, "DWH_ODS_DSN") as conn:
        row = conn.execute(f"SELECT {probe}").fetchone()
    return bool(row and row[0])


def load_changes(dsns: Dsns, changes: Changes, batch: OdsBatch) -> dict[str, LoadCounts]:
    """Merge an extracted and cleaned batch and its new cursors into the ODS; returns what
    changed per table."""
    # Nothing read: the cursors stay, held-back rows keep being re-read from theirs.
    cursors = None if changes.unchanged else next_cursors(changes, batch)
    return load_ods_layer(dsns, batch, cursors, full_snapshot=all(changes.full.values()))


_Slice = tuple[Mapping[str, pl.DataFrame], pl.DataFrame]
"""One slice of a first load on its way to the ODS: cleaned tables, quarantined rows."""


class _Stopped:
    """Sent to the ODS load of a first load when the rest of the run has failed."""


def _received(channel: queue.Queue[_Slice | _Stopped | None]) -> Iterator[_Slice]:
    while (item := channel.get()) is not None:
        if isinstance(item, _Stopped):
            raise DwhError("the first load stopped before its last slice reached the ODS")
        yield item


def _send(
    channel: queue.Queue[_Slice | _Stopped | None],
    item: _Slice | _Stopped | None,
    ods: Future[dict[str, LoadCounts]],
) -> None:
    """Hand ``item`` to the ODS load (waiting while it copies the previous slice); raise its
    error if it has stopped."""
    while not ods.done():
        with suppress(queue.Full):
            channel.put(item, timeout=0.2)
            return
    ods.result()
    raise DwhError("the ODS load ended before the first load's last slice")


def first_load_facts(
    batch: OdsBatch, loaded_at: datetime, settings: Settings
) -> dict[str, pl.DataFrame]:
    """The DDS frames of one slice of a first load (cleaned, loaded into the ODS at
    ``loaded_at``). ``dim_performers`` covers only this slice's deliveries: the slices' parts
    make the dimension with :func:`dwh.dds.merge_dim_performers`."""
    return build_dds(first_load_changes(batch.tables, loaded_at), settings)


def first_load(
    dsns: Dsns, settings: Settings, report: EtlReport, progress: Progress | None = None
) -> None:
    """Fill an empty ODS and the DDS from the whole replica, one slice of orders at a time;
    ``report`` gets what was read, cleaned and loaded.

    Slices (:mod:`dwh.extract.slices`) bound memory by their size, not the source's: while
    one slice is cleaned, built and inserted into ClickHouse, the next is read, and the ODS
    copies the previous one (the server's work) in a single transaction that commits after
    the last slice. The DDS is built from the cleaned slices themselves: an empty ODS that
    receives them holds exactly them. The DDS watermark is recorded only after the ODS has
    committed: if the ODS load fails or the process dies, the ODS is still empty and the
    next run is a first load again, which inserts the same fact rows as new versions and
    recomputes every derived table (the refresh plan is recorded before the first insert).
    """
    say = progress or (lambda _message: None)
    report.quarantined = report.held_back = 0  # a retried first load starts over
    read = read_in_slices(dsns.replica, settings.first_load_slice_rows, settings.home / "spill")
    held: dict[str, int] = {}
    channel: queue.Queue[_Slice | _Stopped | None] = queue.Queue(maxsize=1)
    began: Future[datetime] = Future()
    with ThreadPoolExecutor(max_workers=1) as pool:
        ods = pool.submit(
            load_ods_in_slices,
            dsns.ods,
            _received(channel),
            cursors=lambda: _cursors(read.snapshot, held),
            on_begin=began.set_result,
        )
        first_done: list[Future[Any]] = [began, ods]
        wait(first_done, return_when=FIRST_COMPLETED)
        if not began.done():
            ods.result()  # it stopped before its transaction began: raises why
        try:
            with clickhouse_session(dsns) as client:
                loaded, plan = _first_load_slices(
                    dsns, client, settings, read, began.result(), report, held, say, ods, channel
                )
                with _timed(report.steps, "refresh"):
                    written = refresh_planned(
                        client, plan, sla_target_seconds=settings.sla_target_seconds
                    )
            failpoint("dds.loaded")
            _send(channel, None, ods)
            with _timed(report.steps, "ODS commit"):
                report.ods = ods.result()
        except BaseException:
            if not ods.done():
                channel.put(_Stopped())  # the ODS load is waiting for a slice: it rolls back
            raise
    report.dds = loaded
    _finish_propagation(dsns, loaded, written, watermark=began.result())
    _record_snapshot(dsns, read.snapshot)


def _first_load_slices(
    dsns: Dsns,
    client: Client,
    settings: Settings,
    read: SlicedRead,
    loaded_at: datetime,
    report: EtlReport,
    held: dict[str, int],
    say: Progress,
    ods: Future[dict[str, LoadCounts]],
    channel: queue.Queue[_Slice | _Stopped | None],
) -> tuple[dict[str, int], Plan]:
    """Each slice read, cleaned, sent to the ODS load and loaded into the DDS; returns the rows
    loaded per DDS table and the derived tables to recompute."""
    steps = report.steps
    version = _new_version()
    plan: Plan = pending_refresh(dsns)
    loaded: Counter[str] = Counter()
    extracted: Counter[str] = Counter()
    performers: list[pl.LazyFrame] = []

    def insert(facts: dict[str, pl.DataFrame]) -> None:
        nonlocal plan
        _, planned = refresh_plan(client, facts, whole=True)
        if merge_plans(plan, planned) != plan:
            plan = merge_plans(plan, planned)
            with connect(dsns.ods, "DWH_ODS_DSN") as conn:
                _write_refresh_state(conn, plan, 0, "pending")
        with _timed(steps, "load DDS"):
            loaded.update(load_dds(client, facts, version=version, rules=False))

    slices = read.frames()
    for index in range(1, len(read.slices) + 1):
        with _timed(steps, "extract"):
            raw = next(slices)
        counts = {table: frame.height for table, frame in raw.items()}
        extracted.update(counts)
        with _timed(steps, "clean"):
            batch = clean_snapshot(raw)  # an empty ODS knows no parents
        report.quarantined += batch.quarantined.height
        record_quarantined(batch.quarantined)
        report.held_back += batch.held_back_rows
        for table, xmin in _held_back_xmins(raw, batch).items():
            held[table] = min(held.get(table, xmin), xmin)
        del raw
        with _timed(steps, "wait for the ODS"):
            _send(channel, (batch.tables, batch.quarantined), ods)
        with _timed(steps, "build DDS"):
            facts = first_load_facts(batch, loaded_at, settings)
        if (part := facts.pop("dim_performers", None)) is not None:
            performers.append(part.lazy())
        insert(facts)
        say(f"first load: slice {index}/{len(read.slices)} loaded ({sum(counts.values())} rows)")
        del batch, facts
    next(slices, None)  # lets the reader finish
    dim = merge_dim_performers(performers).collect()
    if dim.height:
        insert({"dim_performers": dim})
    report.extracted = dict(extracted)
    return dict(loaded), plan


def reconcile_deletes(dsns: Dsns) -> int:
    """Mark orders the source no longer has (and all under them) deleted in the ODS."""
    return mark_orders_deleted(dsns.ods, deleted_order_ids(dsns.replica, dsns.ods))


def _reconciles(changes: Changes) -> bool:
    """Whether the run must look for deleted orders: a whole read marks them by itself, and a
    replica that has not moved deleted nothing."""
    return not changes.unchanged and not all(changes.full.values())


def settle_replica(dsns: Dsns, changes: Changes, gone: Sequence[str] | None = None) -> int:
    """After the ODS load of ``changes``: mark the orders the source deleted (``gone`` if
    already found), then record the replica's snapshot as completely loaded. Returns the
    orders marked deleted."""
    if changes.unchanged:
        return 0
    deleted = 0
    if _reconciles(changes):
        if gone is None:
            deleted = reconcile_deletes(dsns)
        else:
            deleted = mark_orders_deleted(dsns.ods, list(gone))
    _record_snapshot(dsns, changes.snapshot)
    return deleted


def _record_snapshot(dsns: Dsns, snapshot: Snapshot) -> None:
    """Record ``snapshot`` as completely loaded: everything it shows is in the ODS, deletes
    included."""
    with connect(dsns.ods, "DWH_ODS_DSN") as conn:
        _write_state(conn, _SNAPSHOT_STATE, snapshot.text, 0, "succeeded")


def build_dds(changes: OdsChanges, settings: Settings) -> dict[str, pl.DataFrame]:
    """DDS facts and dimensions for the changed ODS rows (deleted rows included)."""
    lazy = {name: frame.lazy() for name, frame in changes.frames.items()}
    frames = build_dds_frames(lazy, order_class_bands=settings.order_class_bands)
    # Pipelines with only a changed stage come without their order: only their stages rebuild.
    frames["fact_stages"] = build_fact_stages(
        lazy["stages"], pl.concat([lazy["pipelines"], lazy["stage_pipelines"]])
    )
    # A performer's figures span all its deliveries, not only those of the changed orders.
    frames["dim_performers"] = dim_performers_from_counts(
        lazy["performers"], lazy["performer_counts"]
    )
    collected = pl.collect_all(list(frames.values()))
    return {name: frame for name, frame in zip(frames, collected, strict=True) if frame.height}


def pending_refresh(dsns: Dsns) -> Plan:
    """Derived tables a run planned to recompute but may not have (it did not finish)."""
    cursor = _state_cursor(dsns, _REFRESH_STATE)
    stored: dict[str, str | None] = json.loads(cursor) if cursor else {}
    return {t: datetime.fromisoformat(s) if s else None for t, s in stored.items()}


def _write_refresh_state(conn: psycopg.Connection[Any], plan: Plan, rows: int, status: str) -> None:
    stored = {t: s.isoformat() if s else None for t, s in plan.items()}
    cursor = json.dumps(stored, sort_keys=True) if plan else None
    _write_state(conn, _REFRESH_STATE, cursor, rows, status)


def load_dds_layer(
    dsns: Dsns,
    client: Client,
    facts: Mapping[str, pl.DataFrame],
    settings: Settings,
    *,
    whole: bool,
    steps: dict[str, float],
) -> tuple[dict[str, int], dict[str, int]]:
    """Insert new versions of the facts that changed, then recompute the hourly tables and
    marts they touch.

    Returns the rows loaded per fact and written per derived table. The refresh plan is
    merged with what an interrupted run left pending and recorded before any version lands.
    """
    with _timed(steps, "plan refresh"):
        facts, planned = refresh_plan(client, facts, whole=whole)
        plan = merge_plans(pending_refresh(dsns), planned)
        if plan:
            with connect(dsns.ods, "DWH_ODS_DSN") as conn:
                _write_refresh_state(conn, plan, 0, "pending")
    with _timed(steps, "load DDS"):
        # Built by build_dds from ODS rows that passed the ODS schemas: structure checks only.
        version = _new_version()
        loaded = load_dds(client, facts, version=version, rules=False) if facts else {}
    with _timed(steps, "refresh"):
        written = refresh_planned(client, plan, sla_target_seconds=settings.sla_target_seconds)
    return loaded, written


def _dds_caught_up(dsns: Dsns) -> datetime | None:
    """The DDS watermark if the DDS holds everything the ODS does (no earlier run left
    anything to propagate), else ``None``."""
    after = dds_watermark(dsns)
    return after if after is not None and after == ods_watermark(dsns.ods) else None


def _load_and_propagate(
    dsns: Dsns,
    settings: Settings,
    changes: Changes,
    batch: OdsBatch,
    pool: ThreadPoolExecutor,
    *,
    after: datetime,
    steps: dict[str, float],
) -> tuple[dict[str, LoadCounts], dict[str, int]]:
    """An incremental run's ODS load in ``pool``, with the facts it changes built and loaded
    into the DDS alongside (the ODS's write path is the server's work; ours overlaps it).

    The DDS must be caught up with the ODS up to ``after``. The touched orders are read as the
    ODS holds them before the load, with the batch's rows in their place
    (:func:`dwh.ods.ods_changes_ahead`); performers, whose figures span all their deliveries,
    and the DDS watermark follow once the load has committed. Facts that land before a load
    that then fails hold the source's rows all the same: the next run reads them again and
    loads the same versions.
    """

    def load_ods_timed() -> dict[str, LoadCounts]:
        with _timed(steps, "load ODS"):
            return load_changes(dsns, changes, batch)

    load = pool.submit(load_ods_timed)
    with _timed(steps, "read ODS changes"):
        ahead = ods_changes_ahead(dsns.ods, batch.tables)
    with _timed(steps, "build DDS"):
        facts = build_dds(ahead, settings)
    with clickhouse_session(dsns) as client:
        loaded, written = load_dds_layer(dsns, client, facts, settings, whole=False, steps=steps)
        with _timed(steps, "wait for the ODS load"):
            ods = load.result()
        failpoint("ods.committed")
        upto = ods_watermark(dsns.ods)
        if upto is not None and upto > after:
            with _timed(steps, "performers"):
                performers = read_performer_changes(dsns.ods, after, upto)
                dim = dim_performers_from_counts(
                    performers["performers"].lazy(), performers["performer_counts"].lazy()
                ).collect()
                if dim.height:
                    dims = {"dim_performers": dim}
                    loaded |= load_dds(client, dims, version=_new_version(), rules=False)
    failpoint("dds.loaded")
    _finish_propagation(dsns, loaded, written, watermark=upto)
    return ods, loaded


def propagate(
    dsns: Dsns,
    settings: Settings,
    *,
    full: bool = False,
    registered: tuple[date, date] | None = None,
    steps: dict[str, float] | None = None,
) -> dict[str, int]:
    """ODS → DDS → marts for every order changed since the DDS watermark, then move it.

    ``full`` rebuilds every order; ``registered`` rebuilds those registered in a date range
    (a backfill; the watermark stays where it is).
    """
    timings = steps if steps is not None else {}
    after = None if full else dds_watermark(dsns)
    with _timed(timings, "read ODS changes"):
        changes = read_ods_changes(dsns.ods, after, registered=registered)
    with _timed(timings, "build DDS"):
        facts = build_dds(changes, settings)
    # A backfill is an explicit rebuild: every row is loaded, every reader recomputed.
    whole = after is None or registered is not None
    loaded: dict[str, int] = {}
    written: dict[str, int] = {}
    # Nothing new and nothing left pending: ClickHouse has nothing to do (opening embedded
    # chDB alone takes a few tenths of a second).
    if facts or whole or pending_refresh(dsns):
        with clickhouse_session(dsns) as client:
            loaded, written = load_dds_layer(
                dsns, client, facts, settings, whole=whole, steps=timings
            )
    failpoint("dds.loaded")
    _finish_propagation(dsns, loaded, written, watermark=None if registered else changes.watermark)
    return loaded


def _finish_propagation(
    dsns: Dsns, loaded: Mapping[str, int], written: Mapping[str, int], *, watermark: datetime | None
) -> None:
    """Commit the DDS watermark (if any) and the cleared refresh plan together: done."""
    with connect(dsns.ods, "DWH_ODS_DSN") as conn:
        _write_refresh_state(conn, {}, sum(written.values()), "succeeded")
        if watermark is not None:
            _write_state(conn, _DDS_STATE, watermark.isoformat(), sum(loaded.values()), "succeeded")


def load_and_propagate(
    dsns: Dsns,
    settings: Settings,
    changes: Changes,
    batch: OdsBatch,
    report: EtlReport,
    progress: Progress | None = None,
    *,
    full_refresh: bool = False,
) -> None:
    """Everything a run does after cleaning: the ODS load, the deletes, the DDS and marts;
    what it did goes into ``report``.

    When the DDS has caught up with the ODS and the batch is not a whole read of the source,
    the DDS is built and loaded alongside the ODS load (see :func:`_load_and_propagate`);
    otherwise it follows the load. Safe to retry as a whole: every step is.
    """
    say = progress or (lambda _message: None)
    steps = report.steps
    # A whole read also marks what it no longer finds deleted: not a batch's rows, so it is
    # propagated after the load, as is everything when the DDS has not caught up.
    whole = full_refresh or all(changes.full.values())
    caught_up = None if whole or changes.unchanged else _dds_caught_up(dsns)
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The orders the source deleted are the ODS's live ones it no longer has; the load
        # only brings keys the source had, so they can be looked for while it runs.
        gone = (
            pool.submit(deleted_order_ids, dsns.replica, dsns.ods) if _reconciles(changes) else None
        )
        if caught_up is not None:
            report.ods, report.dds = _load_and_propagate(
                dsns, settings, changes, batch, pool, after=caught_up, steps=steps
            )
        else:
            with _timed(steps, "load ODS"):
                report.ods = load_changes(dsns, changes, batch)
            failpoint("ods.committed")
        say("ODS loaded")
        if not changes.unchanged:
            with _timed(steps, "reconcile deletes"):
                found = gone.result() if gone is not None else None
                report.deleted_orders = settle_replica(dsns, changes, found)
    # Whatever the ODS holds that the DDS does not yet: all of it, or only the deletes just
    # marked after a propagation alongside the load.
    rest = propagate(dsns, settings, full=full_refresh, steps=steps)
    report.dds = dict(Counter(report.dds) + Counter(rest))
    say(f"DDS loaded: {report.dds or 'nothing changed'}")


@observed_etl("etl")
def run_etl(
    settings: Settings,
    dsns: Dsns,
    progress: Progress | None = None,
    *,
    full_refresh: bool = False,
) -> EtlReport:
    """One ETL run: replica → ODS → DDS → marts, incremental unless ``full_refresh``."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    report = EtlReport(mode="full refresh" if full_refresh else "incremental")
    steps = report.steps
    with run_lock(dsns):
        if is_first_load(dsns):
            with _timed(steps, "first load"):
                first_load(dsns, settings, report, say)
            say(f"DDS loaded: {report.dds or 'nothing changed'}")
            report.seconds = time.perf_counter() - started
            return report
        with _timed(steps, "extract"):
            changes = extract(dsns, say, full_refresh=full_refresh)
        failpoint("extracted")
        report.extracted = {name: frame.height for name, frame in changes.frames.items()}
        report.replica_unchanged = changes.unchanged
        with _timed(steps, "clean"):
            batch = clean(dsns, changes.frames)
        report.quarantined = batch.quarantined.height
        record_quarantined(batch.quarantined)
        report.held_back = batch.held_back_rows
        say(f"cleaned: {report.quarantined} quarantined, {report.held_back} held back")
        load_and_propagate(dsns, settings, changes, batch, report, say, full_refresh=full_refresh)
    report.seconds = time.perf_counter() - started
    return report


@observed_etl("backfill")
def run_backfill(
    settings: Settings,
    dsns: Dsns,
    since: date,
    until: date,
    progress: Progress | None = None,
) -> EtlReport:
    """Re-read the orders registered in ``[since, until)`` and rebuild them in every layer."""
    if until <= since:
        raise DwhError(f"backfill: --until ({until}) must be after --since ({since})")
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    report = EtlReport(mode=f"backfill {since}..{until}")
    with run_lock(dsns):
        raw = extract_range(
            dsns.replica, since, until, on_table=lambda t, n: say(f"extracted {t}: {n} rows")
        )
        report.extracted = {name: frame.height for name, frame in raw.items()}
        batch = clean(dsns, raw)
        report.quarantined = batch.quarantined.height
        record_quarantined(batch.quarantined)
        report.held_back = batch.held_back_rows
        report.ods = load_ods_layer(dsns, batch, None, full_snapshot=False)
        report.dds = propagate(dsns, settings, registered=(since, until))
    report.seconds = time.perf_counter() - started
    return report
