"""``dds.fact_metrics``: one row per Prometheus sample — (``metric``, ``labels``, ``ts``).

A sample is an expression's value at one step-aligned evaluation time of ``query_range``.
``metric`` is the series' ``__name__`` or, when the result has none (``rate(...)``,
``sum by (...)``), the expression's text; ``labels`` are the remaining labels sorted by key, so
that one series always has one key. The transform is pure; :func:`load_fact_metrics` is the
ClickHouse edge.
"""

from __future__ import annotations

import dataframely as dy
import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from dwh.dds._columns import utc_column

TABLE = "dds.fact_metrics"
_NAME = "__name__"
_LABEL = pl.Struct({"key": pl.String(), "value": pl.String()})


class FactMetricsSchema(dy.Schema):
    """Rows of ``dds.fact_metrics``; mirrors ``schemas/dds/020_fact_metrics.sql``."""

    metric = dy.String(min_length=1)
    labels = dy.List(dy.Struct({"key": dy.String(min_length=1), "value": dy.String()}))
    ts = utc_column()
    value = dy.Float64(allow_inf=True, allow_nan=True)

    @dy.rule()
    def one_row_per_sample(cls) -> pl.Expr:
        """The dedup key of the table is unique within a batch."""
        return pl.struct("metric", "labels", "ts").is_unique()


def build_fact_metrics(samples: pl.LazyFrame) -> pl.LazyFrame:
    """Raw ``query_range`` samples (``expr``, ``labels``, ``ts`` seconds, ``value`` text) →
    ``fact_metrics`` rows. A series returned by two expressions is kept once (the later)."""
    name = pl.col("labels").list.eval(
        pl.element().filter(pl.element().struct.field("key") == _NAME).struct.field("value")
    )
    others = (
        pl.col("labels")
        .list.eval(pl.element().filter(pl.element().struct.field("key") != _NAME))
        .list.eval(pl.element().sort_by(pl.element().struct.field("key")))
    )
    return samples.select(
        pl.coalesce(name.list.first(), pl.col("expr")).alias("metric"),
        others.cast(pl.List(_LABEL)).alias("labels"),
        pl.from_epoch((pl.col("ts") * 1_000_000).round().cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("ts"),
        pl.col("value").cast(pl.Float64).alias("value"),
    ).unique(subset=["metric", "labels", "ts"], keep="last", maintain_order=True)


def _to_arrow(frame: pl.DataFrame, version: int) -> pa.Table:
    """Arrow table for ``insert_arrow``: ``labels`` as an Arrow map (ClickHouse ``Map``)."""
    table = frame.with_columns(pl.lit(version, dtype=pl.UInt64).alias("_version")).to_arrow()
    # Polars has no map type and pyarrow cannot cast a list of structs to one; rebuild it.
    labels = table.column("labels").combine_chunks()
    entries = labels.flatten()
    as_map = pa.MapArray.from_arrays(labels.offsets, entries.field("key"), entries.field("value"))
    return table.set_column(table.schema.get_field_index("labels"), "labels", as_map)


def load_fact_metrics(
    client: Client, frame: pl.DataFrame, *, version: int, batch_rows: int = 100_000
) -> int:
    """Validate ``frame`` and insert it into ``dds.fact_metrics`` as ``version``; rows loaded.

    Re-inserting a sample replaces it (``ReplacingMergeTree`` on metric, labels, ts), so a
    window fetched twice leaves one row per sample.
    """
    valid = FactMetricsSchema.validate(frame, cast=True)
    for offset in range(0, valid.height, batch_rows):
        client.insert_arrow(TABLE, _to_arrow(valid.slice(offset, batch_rows), version))
    return valid.height
