"""What the DDS must rebuild: the ODS rows of every order touched since a watermark.

Every ODS write stamps ``_loaded_at`` (content changed, row inserted, or marked deleted), so the
rows changed since the last propagated load are ``_loaded_at > watermark``. Facts are rebuilt
per order — attempt numbers, last status and stage occurrences depend on all of an order's
pipelines and stages — so a change anywhere in an order brings the whole order along. The
watermark is only advanced by the caller after ClickHouse has the new versions: a crash in
between makes the next run rebuild the same orders again, which is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import connectorx as cx
import polars as pl

from dwh.engines.postgres import connectorx_url
from dwh.ods._read import frame_schema, ods_frame_schema, read_table, select_sql
from dwh.ods.models import SCHEMA

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEYS_PER_QUERY = 100_000
_PERFORMERS_BY_KEY = 200
_TRACKED = ("orders", "pipelines", "stages", "deliveries", "configs", "performers")


@dataclass(frozen=True)
class OdsChanges:
    """ODS rows to propagate, and the watermark that covers them."""

    frames: dict[str, pl.DataFrame]
    """``orders, pipelines, stages, deliveries`` of the touched orders; ``configs`` from the
    last tariff before the first changed one; ``performers`` touched and all their
    deliveries as ``performer_deliveries``."""
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


def _performer_deliveries(url: str, performer_ids: pl.Series) -> pl.DataFrame:
    """What the performers' figures need of all their deliveries (``performer_id``,
    ``released_at``): by key for a few performers; for many — a change spread over history
    touches most of them — one sequential scan beats millions of index look-ups."""
    columns = ("performer_id", "released_at")
    if performer_ids.len() <= _PERFORMERS_BY_KEY:
        return _read_keys(url, "deliveries", "performer_id", performer_ids, columns)
    every = read_table(url, "deliveries", "WHERE t.performer_id IS NOT NULL", columns)
    return every.filter(pl.col("performer_id").is_in(performer_ids.implode()))


def read_ods_changes(
    dsn: str, after: datetime | None, *, registered: tuple[date, date] | None = None
) -> OdsChanges:
    """The ODS rows changed after ``after`` (everything when ``None``), grouped by order.

    With ``registered = (since, until)`` the orders registered in ``[since, until)`` (UTC days)
    are taken instead, changed or not: a backfill rebuilds them.
    """
    url = connectorx_url(dsn)
    newest = " UNION ALL ".join(f"SELECT max(_loaded_at) AS m FROM {SCHEMA}.{t}" for t in _TRACKED)
    top = cx.read_sql(url, f"SELECT max(m) AS m FROM ({newest}) AS x", return_type="polars")
    watermark = top.item() if top.height else None
    if watermark is None:
        empty = {t: pl.DataFrame(schema=ods_frame_schema(t)) for t in _TRACKED}
        empty["performer_deliveries"] = empty["deliveries"]
        return OdsChanges(empty, None)

    if after is None and registered is None:
        whole = {t: read_table(url, t, "") for t in _TRACKED}
        whole["performer_deliveries"] = whole["deliveries"]
        return OdsChanges(whole, watermark)

    lower = f"'{(after or _EPOCH).isoformat()}'::timestamptz"
    upper = f"'{watermark.isoformat()}'::timestamptz"

    def changed(alias: str) -> str:
        """Rows of ``alias`` written after the old watermark, up to the new one."""
        return f"{alias}._loaded_at > {lower} AND {alias}._loaded_at <= {upper}"

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
            UNION SELECT p.order_id::text FROM {SCHEMA}.stages AS s
                  JOIN {SCHEMA}.pipelines AS p ON p.id = s.pipeline_id WHERE {changed("s")}
            UNION SELECT p.order_id::text FROM {SCHEMA}.deliveries AS d
                  JOIN {SCHEMA}.pipelines AS p ON p.id = d.pipeline_id WHERE {changed("d")}"""
    order_ids = _ids(url, touched)
    orders = _read_keys(url, "orders", "id", order_ids)
    pipelines = _read_keys(url, "pipelines", "order_id", order_ids)
    pipeline_ids = pipelines.get_column("id")
    deliveries = _read_keys(url, "deliveries", "pipeline_id", pipeline_ids)
    performer_ids = pl.concat(
        [
            deliveries.get_column("performer_id").drop_nulls(),
            _ids(
                url,
                f"SELECT f.performer_id::text AS id FROM {SCHEMA}.performers AS f"
                f" WHERE {changed('f')}",
            ),
        ]
    ).unique()
    # dim_configs needs the tariff in force before the first new one to close its validity.
    first_new = f"SELECT min(c.fetched_at) FROM {SCHEMA}.configs AS c WHERE {changed('c')}"
    configs = f"""WHERE t.fetched_at >= coalesce(
        (SELECT max(fetched_at) FROM {SCHEMA}.configs WHERE fetched_at < ({first_new})),
        ({first_new}))"""
    frames = {
        "orders": orders,
        "pipelines": pipelines,
        "stages": _read_keys(url, "stages", "pipeline_id", pipeline_ids),
        "deliveries": deliveries,
        "configs": read_table(url, "configs", configs),
        "performers": _read_keys(url, "performers", "performer_id", performer_ids),
        "performer_deliveries": _performer_deliveries(url, performer_ids),
    }
    return OdsChanges(frames, watermark)
