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


def select_sql(table: str, columns: tuple[str, ...] = ()) -> str:
    """``SELECT`` of ``table`` (alias ``t``) in the :func:`ods_frame_schema` shape, or of only
    ``columns``. uuid and numeric travel as text: connectorx would round or mangle them."""
    schema = frame_schema(table, columns)
    selected = ", ".join(
        f't."{n}"::text AS "{n}"' if d in (pl.String(), COST) else f't."{n}"'
        for n, d in schema.items()
    )
    return f"SELECT {selected} FROM {SCHEMA}.{table} AS t"


def read_table(
    url: str, table: str, where: str = "", columns: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Rows of ``table`` matching ``where`` (SQL on alias ``t``), typed as the ODS frames."""
    schema = frame_schema(table, columns)
    frame: pl.DataFrame = cx.read_sql(
        url, f"{select_sql(table, columns)} {where}", return_type="polars"
    )
    return frame.select(pl.col(n).cast(d) for n, d in schema.items())


def frame_schema(table: str, columns: tuple[str, ...] = ()) -> pl.Schema:
    """:func:`ods_frame_schema`, or only ``columns`` of it."""
    schema = ods_frame_schema(table)
    return pl.Schema({n: schema[n] for n in columns}) if columns else schema


def read_ods(dsn: str) -> dict[str, pl.DataFrame]:
    """Read ``orders, pipelines, stages, deliveries, configs, performers`` whole.

    Every row is returned, soft-deleted ones too (``_deleted_at`` set): the warehouse keeps
    history. Uuids come back as lowercase text, timestamps as ``Datetime("us", "UTC")``,
    ``cost`` as ``Decimal(12, 2)`` (read as text and parsed, so no float rounding on the way).
    """
    url = connectorx_url(dsn)
    return {table: read_table(url, table) for table in READ_TABLES}
