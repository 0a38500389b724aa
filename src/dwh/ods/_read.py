"""Reading the ODS back into Polars (connectorx/Arrow) for the DDS builder."""

from __future__ import annotations

import connectorx as cx
import polars as pl
from sqlalchemy import BigInteger, DateTime, Double, Numeric, Text
from sqlalchemy.dialects.postgresql import UUID

from dwh.engines.postgres import connectorx_url
from dwh.ods._cleaning import COST, TIMESTAMP
from dwh.ods.models import SCHEMA, Base, Configs, Deliveries, Orders, Performers, Pipelines, Stages

READ_TABLES = tuple(
    model.__tablename__ for model in (Orders, Pipelines, Stages, Deliveries, Configs, Performers)
)


def _polars_type(sql_type: object) -> pl.DataType:
    if isinstance(sql_type, UUID | Text):
        return pl.String()
    if isinstance(sql_type, DateTime):
        return TIMESTAMP
    if isinstance(sql_type, Double):  # before Numeric: Double is a Numeric subclass
        return pl.Float64()
    if isinstance(sql_type, Numeric):
        return COST
    if isinstance(sql_type, BigInteger):
        return pl.Int64()
    raise TypeError(f"no Polars type for {sql_type!r}")


def ods_frame_schema(table: str) -> pl.Schema:
    """The Polars schema :func:`read_ods` returns for ``table`` (metadata columns included)."""
    columns = Base.metadata.tables[f"{SCHEMA}.{table}"].columns
    return pl.Schema({c.name: _polars_type(c.type) for c in columns})


def read_ods(dsn: str) -> dict[str, pl.DataFrame]:
    """Read ``orders, pipelines, stages, deliveries, configs, performers`` whole.

    Every row is returned, soft-deleted ones too (``_deleted_at`` set): the warehouse keeps
    history. Uuids come back as lowercase text, timestamps as ``Datetime("us", "UTC")``,
    ``cost`` as ``Decimal(12, 2)`` (read as text and parsed, so no float rounding on the way).
    """
    url = connectorx_url(dsn)
    frames: dict[str, pl.DataFrame] = {}
    for table in READ_TABLES:
        schema = ods_frame_schema(table)
        # Cast in SQL what connectorx would not hand over exactly: uuid and numeric as text.
        select = ", ".join(
            f'"{name}"::text AS "{name}"' if dtype in (pl.String(), COST) else f'"{name}"'
            for name, dtype in schema.items()
        )
        frame = cx.read_sql(url, f"SELECT {select} FROM {SCHEMA}.{table}", return_type="polars")
        frames[table] = frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
    return frames
