"""The source tables as the replica holds them: their frame contract and how one is read.

Tables are read children first (stage, delivery, then pipeline, order): a foreign key guarantees
that a child's parent committed before it, so a parent read later cannot be missing for a child
read earlier, even though each table is read on its own connection.
"""

from __future__ import annotations

from collections.abc import Callable

import connectorx as cx
import polars as pl

from dwh.errors import ConfigError

_UUID: pl.DataType = pl.String()
_TIME: pl.DataType = pl.Datetime("us", "UTC")

# Declared once: the frame contract of every source table. Columns are listed explicitly so a
# column added to the source never changes what the transforms receive.
SOURCE_TABLES: dict[str, pl.Schema] = {
    "stage": pl.Schema(
        {
            "id": _UUID,
            "pipeline_id": _UUID,
            "name": pl.String(),
            "status": pl.String(),
            "message": pl.String(),
            "created_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
        }
    ),
    "delivery": pl.Schema(
        {
            "pipeline_id": _UUID,
            "cost": pl.Float64(),
            "estimated_at": _TIME,
            "performer_id": _UUID,
            "assigned_at": _TIME,
            "released_at": _TIME,
        }
    ),
    "pipeline": pl.Schema(
        {
            "id": _UUID,
            "order_id": _UUID,
            "status": pl.String(),
            "message": pl.String(),
            "created_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
        }
    ),
    "order": pl.Schema(
        {
            "id": _UUID,
            "source_address_id": _UUID,
            "target_address_id": _UUID,
            "extra": pl.String(),
            "registered_at": _TIME,
        }
    ),
    "config": pl.Schema(
        {
            "id": _UUID,
            "min_cost": pl.Float64(),
            "rubles_per_meter": pl.Float64(),
            "fetched_at": _TIME,
        }
    ),
}


def read_source_table(
    url: str, table: str, xmin: str, where: str, on_table: Callable[[str, int], None] | None
) -> pl.DataFrame:
    """One source table's rows matching ``where`` (SQL, may be empty) in its declared frame
    shape plus ``_xmin`` (the ``xmin`` expression given, widened to ``xid8``)."""
    schema = SOURCE_TABLES[table]
    query = f'SELECT {", ".join(schema.names())}, {xmin} AS _xmin FROM "{table}"'
    if where:
        query += f" WHERE {where}"
    try:
        raw: pl.DataFrame = cx.read_sql(url, query, return_type="polars")
    except RuntimeError as exc:
        raise ConfigError("DWH_REPLICA_DSN", f"cannot read table {table!r} ({exc})") from None
    if on_table is not None:
        on_table(table, raw.height)
    return raw.cast(schema).with_columns(pl.col("_xmin").cast(pl.Int64))
