"""The declared schemas agree: dataframely output schemas vs. SQLAlchemy models; public API."""

from __future__ import annotations

import dataframely as dy
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import dwh.ods
from dwh.ods import (
    ConfigsSchema,
    DeliveriesSchema,
    OrdersSchema,
    PerformersSchema,
    PipelinesSchema,
    StagesSchema,
)
from dwh.ods.models import Base

METADATA_COLUMNS = {"_loaded_at", "_deleted_at"}


def _family(column: dy.Column) -> type[sa.types.TypeEngine[object]]:
    if isinstance(column, dy.String):
        return sa.Text
    if isinstance(column, dy.Datetime):
        return sa.DateTime
    if isinstance(column, dy.Decimal):
        return sa.Numeric
    if isinstance(column, dy.Float64):
        return sa.Double
    if isinstance(column, dy.Int64):
        return sa.BigInteger
    raise AssertionError(column)


@pytest.mark.parametrize(
    ("schema", "table"),
    [
        (OrdersSchema, "orders"),
        (PipelinesSchema, "pipelines"),
        (StagesSchema, "stages"),
        (DeliveriesSchema, "deliveries"),
        (ConfigsSchema, "configs"),
        (PerformersSchema, "performers"),
    ],
)
def test_output_schema_matches_the_table(schema: type[dy.Schema], table: str) -> None:
    model = Base.metadata.tables[f"ods.{table}"]
    data_columns = [c for c in model.columns if c.name not in METADATA_COLUMNS]
    assert schema.column_names() == [c.name for c in data_columns]
    assert schema.primary_key() == [c.name for c in model.primary_key.columns]
    for column in data_columns:
        declared = schema.columns()[column.name]
        assert declared.nullable == column.nullable, column.name
        family = _family(declared)
        if family is sa.Text and isinstance(column.type, postgresql.UUID):
            assert declared.regex is not None, f"{column.name}: uuid column without uuid check"
            continue
        assert isinstance(column.type, family), column.name
        if family is sa.Numeric and not isinstance(column.type, sa.Double):
            assert isinstance(declared, dy.Decimal)
            assert (column.type.precision, column.type.scale) == (
                declared.precision,
                declared.scale,
            )
        if family is sa.DateTime:
            assert column.type.timezone
            assert declared.time_zone is not None


def test_public_api_is_sorted_and_importable() -> None:
    assert dwh.ods.__all__ == sorted(dwh.ods.__all__)
    for name in dwh.ods.__all__:
        assert getattr(dwh.ods, name) is not None
