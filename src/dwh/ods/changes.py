"""What the DDS must rebuild: the ODS rows of every order touched since a watermark.

Every ODS write stamps ``_loaded_at`` (content changed, row inserted, or marked deleted), so the
rows changed since the last propagated load are ``_loaded_at > watermark``. Order and
delivery facts are rebuilt per order — attempt numbers and the last status depend on all of an
order's pipelines — so a change to an order, a pipeline or a delivery brings the whole order
along. Stage facts depend only on their pipeline's stages (occurrences) and its order id, so a
changed stage brings its pipeline's stages along, not the whole order. The watermark is only
advanced by the caller after ClickHouse has the new versions: a crash in between makes the next
run rebuild the same orders again, which is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

import connectorx as cx
import polars as pl

from dwh.dds.dim_performers import performer_counts
from dwh.engines.postgres import connectorx_url
from dwh.ods._load import TARGETS
from dwh.ods._read import frame_schema, ods_frame_schema, read_table, select_sql
from dwh.ods.models import DATA_TABLES, SCHEMA
from dwh.ods.performers import build_performers

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEYS_PER_QUERY = 100_000
_PERFORMERS_BY_KEY = 200
_COUNTS_SCHEMA = pl.Schema(
    {"performer_id": pl.String(), "deliveries_count": pl.UInt32(), "completed_count": pl.UInt32()}
)


@dataclass(frozen=True)
class OdsChanges:
    """ODS rows to propagate, and the watermark that covers them."""

    frames: dict[str, pl.DataFrame]
    """``orders, pipelines, deliveries`` of the touched orders; ``stages`` of the pipelines
    with a changed stage (of every pipeline of the orders in a backfill), those pipelines
    when not among ``pipelines`` as ``stage_pipelines``; ``configs`` from the last tariff
    before the first changed one;
    ``performers`` touched and their delivery counts over all deliveries as
    ``performer_counts`` (see :func:`dwh.dds.performer_counts`)."""
    watermark: datetime | None
    """The newest ``_loaded_at`` in the ODS when the changes were read."""


def _ids(url: str, query: str) -> pl.Series:
    frame: pl.DataFrame = cx.read_sql(url, query, return_type="polars")
    return frame.get_column("id").cast(pl.String)


def _read_keys(
    url: str, table: str, column: str, keys: pl.Series, columns: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Rows of ``table`` whose ``column`` is one of ``keys``, read in chunks of literal arrays
    (connectorx runs the chunks in parallel and concatenates them); only ``columns`` if given."""
    schema = frame_schema(table, columns)
    if keys.is_empty():
        return pl.DataFrame(schema=schema)
    ordered = keys.unique().sort()
    queries = []
    for start in range(0, ordered.len(), _KEYS_PER_QUERY):
        chunk = ",".join(ordered.slice(start, _KEYS_PER_QUERY).to_list())
        queries.append(
            f"{select_sql(table, columns)} WHERE t.{column} = ANY('{{{chunk}}}'::uuid[])"
        )
    frame: pl.DataFrame = cx.read_sql(url, queries, return_type="polars")
    return frame.select(pl.col(n).cast(d) for n, d in schema.items())


def _performer_counts(url: str, performer_ids: pl.Series) -> pl.DataFrame:
    """:func:`dwh.dds.performer_counts` of the performers, counted by the server over all their
    deliveries: by key for a few performers; for many — a change spread over history touches
    most of them — one sequential scan beats millions of index look-ups."""
    schema = _COUNTS_SCHEMA
    if performer_ids.is_empty():
        return pl.DataFrame(schema=schema)
    count = (
        "SELECT performer_id::text AS performer_id, count(*) AS deliveries_count,"
        f" count(released_at) AS completed_count FROM {SCHEMA}.deliveries"
    )
    if performer_ids.len() <= _PERFORMERS_BY_KEY:
        keys = ",".join(performer_ids.unique().sort().to_list())
        query = f"{count} WHERE performer_id = ANY('{{{keys}}}'::uuid[]) GROUP BY performer_id"
    else:
        query = f"{count} WHERE performer_id IS NOT NULL GROUP BY performer_id"
    frame: pl.DataFrame = cx.read_sql(url, query, return_type="polars")
    wanted = frame.filter(pl.col("performer_id").is_in(performer_ids.implode()))
    return wanted.select(pl.col(n).cast(d) for n, d in schema.items())


def _derived_views(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Whole tables (or none of them): every stage's pipeline is in ``pipelines`` already, and
    the performers' deliveries are the deliveries."""
    return frames | {
        "stage_pipelines": frames["pipelines"].clear(),
        "performer_counts": performer_counts(frames["deliveries"].lazy()).collect(),
    }


def _watermark(url: str) -> datetime | None:
    """The newest ``_loaded_at`` over the tracked ODS tables."""
    newest = " UNION ALL ".join(
        f"SELECT max(_loaded_at) AS m FROM {SCHEMA}.{t}" for t in DATA_TABLES
    )
    top = cx.read_sql(url, f"SELECT max(m) AS m FROM ({newest}) AS x", return_type="polars")
    value = top.item() if top.height else None
    return value if isinstance(value, datetime) else None


def first_load_changes(tables: Mapping[str, pl.DataFrame], loaded_at: datetime) -> OdsChanges:
    """What :func:`read_ods_changes` would return once ``tables`` (cleaned frames, ``clean_*``
    schemas) are loaded into an empty ODS by a transaction stamped ``loaded_at``, without
    reading them back (nor waiting for that load to commit).

    An empty ODS that received exactly these rows holds exactly them: each stamped with the
    load's ``_loaded_at`` and none deleted, ``performers`` derived from the deliveries.
    """
    stamp = pl.lit(loaded_at, dtype=pl.Datetime("us", "UTC")).alias("_loaded_at")
    deleted_at = pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at")
    frames: dict[str, pl.DataFrame] = {}
    for table in DATA_TABLES:
        schema = ods_frame_schema(table)
        if table == "performers":
            frame = build_performers(tables["deliveries"].lazy()).collect()
        else:
            frame = tables.get(table, pl.DataFrame(schema=schema))
        stamped = frame.with_columns(stamp, deleted_at)
        frames[table] = stamped.select(pl.col(n).cast(d) for n, d in schema.items())
    return OdsChanges(_derived_views(frames), loaded_at)


def read_ods_changes(
    dsn: str, after: datetime | None, *, registered: tuple[date, date] | None = None
) -> OdsChanges:
    """The ODS rows changed after ``after`` (everything when ``None``), grouped by order.

    With ``registered = (since, until)`` the orders registered in ``[since, until)`` (UTC days)
    are taken instead, changed or not: a backfill rebuilds them.
    """
    url = connectorx_url(dsn)
    watermark = _watermark(url)
    # Nothing written since the last propagation: skip the look-ups.
    if watermark is None or (registered is None and after is not None and watermark <= after):
        empty = {t: pl.DataFrame(schema=ods_frame_schema(t)) for t in DATA_TABLES}
        return OdsChanges(_derived_views(empty), watermark)

    if after is None and registered is None:
        whole = {t: read_table(url, t, "") for t in DATA_TABLES}
        return OdsChanges(_derived_views(whole), watermark)

    changed = _changed_range(after, watermark)
    stage_changed = None
    if registered is not None:
        since, until = (f"'{d.isoformat()}'::timestamp AT TIME ZONE 'UTC'" for d in registered)
        touched = (
            f"SELECT id::text AS id FROM {SCHEMA}.orders"
            f" WHERE registered_at >= {since} AND registered_at < {until}"
        )
    else:
        # Each branch is an index range scan on _loaded_at plus key look-ups.
        touched = f"""
            SELECT o.id::text AS id FROM {SCHEMA}.orders AS o WHERE {changed("o")}
            UNION SELECT p.order_id::text FROM {SCHEMA}.pipelines AS p WHERE {changed("p")}
            UNION SELECT p.order_id::text FROM {SCHEMA}.deliveries AS d
                  JOIN {SCHEMA}.pipelines AS p ON p.id = d.pipeline_id WHERE {changed("d")}"""
        stage_changed = _ids(
            url,
            f"SELECT DISTINCT s.pipeline_id::text AS id FROM {SCHEMA}.stages AS s"
            f" WHERE {changed('s')}",
        )
    order_ids = _ids(url, touched)
    # Two reads at a time: the server's work and the conversion of the last batch overlap.
    with ThreadPoolExecutor(max_workers=2) as pool:
        frames = _read_changed(pool, url, order_ids, stage_changed, changed, registered)
    return OdsChanges(frames, watermark)


def _merged(
    current: pl.DataFrame, incoming: Mapping[str, pl.DataFrame] | None, table: str
) -> pl.DataFrame:
    """``current`` ODS rows of ``table`` with the rows ``incoming`` is about to merge in place
    of those sharing their key, as the merge will leave them (``_deleted_at`` cleared)."""
    new = (incoming or {}).get(table)
    if new is None or new.is_empty():
        return current
    key = TARGETS[table].key
    stamped = new.with_columns(
        pl.lit(datetime.now(UTC), dtype=pl.Datetime("us", "UTC")).alias("_loaded_at"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at"),
    ).select(pl.col(n).cast(d) for n, d in current.schema.items())
    return pl.concat([current.join(stamped.select(key), on=key, how="anti"), stamped])


def _read_orders(
    pool: ThreadPoolExecutor,
    url: str,
    order_ids: pl.Series,
    stage_changed: pl.Series | None,
    incoming: Mapping[str, pl.DataFrame] | None = None,
) -> dict[str, pl.DataFrame]:
    """``orders, pipelines, stages, stage_pipelines, deliveries`` of :class:`OdsChanges` for
    the touched orders and the pipelines with a changed stage, with ``incoming`` rows
    (see :func:`_merged`) in place; reads that do not depend on each other run in ``pool``.
    Orders and deliveries are read by their key, so those ``incoming`` replaces are not read.

    Only the pipelines in ``stage_changed`` have their stages read (every pipeline of the
    orders when it is ``None``: a backfill): a stage fact depends on its pipeline's stages
    and on the pipeline's order id, which never changes, so the other pipelines of a touched
    order keep their stage facts (a change spread over history would otherwise read and
    rebuild about twice the stages it changed).
    """

    def not_incoming(keys: pl.Series, table: str) -> pl.Series:
        new = (incoming or {}).get(table)
        if new is None:
            return keys
        return keys.filter(~keys.is_in(new.get_column(TARGETS[table].key).implode()))

    orders = pool.submit(_read_keys, url, "orders", "id", not_incoming(order_ids, "orders"))
    pipelines = _merged(_read_keys(url, "pipelines", "order_id", order_ids), incoming, "pipelines")
    pipeline_ids = pipelines.get_column("id")
    if stage_changed is None:
        stage_changed = pipeline_ids
    stage_only = stage_changed.filter(~stage_changed.is_in(pipeline_ids.implode()))
    stages = pool.submit(_read_keys, url, "stages", "pipeline_id", stage_changed)
    delivered = not_incoming(pipeline_ids, "deliveries")
    deliveries = _read_keys(url, "deliveries", "pipeline_id", delivered)
    return {
        "orders": _merged(orders.result(), incoming, "orders"),
        "pipelines": pipelines,
        "stages": _merged(stages.result(), incoming, "stages"),
        "stage_pipelines": _read_keys(url, "pipelines", "id", stage_only),
        "deliveries": _merged(deliveries, incoming, "deliveries"),
    }


def _configs_since(first_new: str) -> str:
    """``WHERE`` of the configs :class:`OdsChanges` holds when ``first_new`` (SQL) is the
    first new tariff: dim_configs needs the one in force before it to close its validity."""
    return f"""WHERE t.fetched_at >= coalesce(
        (SELECT max(fetched_at) FROM {SCHEMA}.configs WHERE fetched_at < ({first_new})),
        ({first_new}))"""


def _changed_performer_ids(url: str, changed: Callable[[str], str]) -> pl.Series:
    """A performer's figures change with its deliveries' rows (a release) or with its ODS row
    (the loader updates it when a delivery is assigned to it or taken from it)."""
    return _ids(
        url,
        f"SELECT d.performer_id::text AS id FROM {SCHEMA}.deliveries AS d"
        f" WHERE {changed('d')} AND d.performer_id IS NOT NULL"
        f" UNION SELECT f.performer_id::text FROM {SCHEMA}.performers AS f WHERE {changed('f')}",
    )


def _read_changed(
    pool: ThreadPoolExecutor,
    url: str,
    order_ids: pl.Series,
    stage_changed: pl.Series | None,
    changed: Callable[[str], str],
    registered: tuple[date, date] | None,
) -> dict[str, pl.DataFrame]:
    """The frames of :class:`OdsChanges` for the touched orders and the pipelines with a
    changed stage (``None``: a backfill); reads that do not depend on each other run in
    ``pool``."""
    frames = _read_orders(pool, url, order_ids, stage_changed)
    performer_ids = _changed_performer_ids(url, changed)
    if registered is not None:  # a backfill rebuilds the performers of its deliveries too
        rebuilt = frames["deliveries"].get_column("performer_id").drop_nulls()
        performer_ids = pl.concat([performer_ids, rebuilt]).unique()
    counts = pool.submit(_performer_counts, url, performer_ids)
    first_new = f"SELECT min(c.fetched_at) FROM {SCHEMA}.configs AS c WHERE {changed('c')}"
    return frames | {
        "configs": read_table(url, "configs", _configs_since(first_new)),
        "performers": _read_keys(url, "performers", "performer_id", performer_ids),
        "performer_counts": counts.result(),
    }


def _changed_range(after: datetime | None, upto: datetime) -> Callable[[str], str]:
    lower = f"'{(after or _EPOCH).isoformat()}'::timestamptz"
    upper = f"'{upto.isoformat()}'::timestamptz"

    def changed(alias: str) -> str:
        """Rows of ``alias`` written after ``after``, up to ``upto``."""
        return f"{alias}._loaded_at > {lower} AND {alias}._loaded_at <= {upper}"

    return changed


def ods_watermark(dsn: str) -> datetime | None:
    """The newest ``_loaded_at`` in the ODS: what the DDS has caught up with once its
    watermark is this."""
    return _watermark(connectorx_url(dsn))


def ods_changes_ahead(dsn: str, incoming: Mapping[str, pl.DataFrame]) -> OdsChanges:
    """What :func:`read_ods_changes` will return for the orders ``incoming`` touches once it is
    merged into the ODS, read while that merge is still under way.

    ``incoming`` maps ODS tables to the cleaned frames :func:`dwh.ods.load_ods` is merging
    (``clean_*`` schemas). The touched orders' rows are read as the ODS holds them now, with
    ``incoming``'s in place of those sharing their key — what the merge leaves. An unchanged
    row among them only makes its order be rebuilt to the same facts. ``performers`` and
    ``performer_counts`` are empty: a performer's figures span all its deliveries, so they
    are read once the merge has committed (:func:`read_performer_changes`). ``watermark`` is
    ``None``: it is the ODS's once the merge has committed.
    """
    url = connectorx_url(dsn)
    empty = pl.Series("id", [], dtype=pl.String)

    def column(table: str, name: str) -> pl.Series:
        frame = incoming.get(table)
        return empty if frame is None else frame.get_column(name).cast(pl.String).rename("id")

    pipelines = incoming.get(
        "pipelines", pl.DataFrame(schema={"id": pl.String, "order_id": pl.String})
    )
    delivered = column("deliveries", "pipeline_id")
    known = delivered.filter(~delivered.is_in(pipelines.get_column("id").implode()))
    delivered_orders = _read_keys(url, "pipelines", "id", known, ("id", "order_id"))
    order_ids = pl.concat(
        [
            column("orders", "id"),
            column("pipelines", "order_id"),
            pipelines.filter(pl.col("id").is_in(delivered.implode()))
            .get_column("order_id")
            .rename("id"),
            delivered_orders.get_column("order_id").rename("id"),
        ]
    ).unique()
    stage_changed = column("stages", "pipeline_id").unique()
    with ThreadPoolExecutor(max_workers=2) as pool:
        frames = _read_orders(pool, url, order_ids, stage_changed, incoming)
    configs = incoming.get("configs")
    if configs is None or configs.is_empty():
        frames["configs"] = pl.DataFrame(schema=ods_frame_schema("configs"))
    else:
        first_new = f"'{configs.get_column('fetched_at').min().isoformat()}'::timestamptz"  # type: ignore[union-attr]
        frames["configs"] = _merged(
            read_table(url, "configs", _configs_since(first_new)), incoming, "configs"
        )
    frames["performers"] = pl.DataFrame(schema=ods_frame_schema("performers"))
    frames["performer_counts"] = pl.DataFrame(schema=_COUNTS_SCHEMA)
    return OdsChanges(frames, None)


def read_performer_changes(dsn: str, after: datetime, upto: datetime) -> dict[str, pl.DataFrame]:
    """``performers`` and ``performer_counts`` of :class:`OdsChanges` for the ODS rows written
    after ``after``, up to ``upto``: what :func:`ods_changes_ahead` leaves out."""
    url = connectorx_url(dsn)
    performer_ids = _changed_performer_ids(url, _changed_range(after, upto))
    return {
        "performers": _read_keys(url, "performers", "performer_id", performer_ids),
        "performer_counts": _performer_counts(url, performer_ids),
    }
