"""Test helpers around a real ClickHouse (chDB): build, load, read back, compare."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from polars.testing import assert_frame_equal

from dds.ods_history import lazy
from dwh.dds import build_dds

BANDS = [Decimal(500), Decimal(2000), Decimal(10000)]


def build(ods: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The DDS frames of an ODS snapshot, collected."""
    return {
        name: lf.collect()
        for name, lf in build_dds(lazy(dict(ods)), order_class_bands=BANDS).items()
    }


def _uuid_strings(column: pa.ChunkedArray) -> pa.Array:
    storage = column.combine_chunks().storage.to_pylist()
    return pa.array(
        [None if raw is None else str(uuid.UUID(bytes=raw)) for raw in storage], pa.string()
    )


def query_frame(
    client: Client, sql: str, parameters: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``sql`` and return a Polars frame with UUIDs as lowercase strings."""
    table = client.query_arrow(sql, parameters=dict(parameters or {}))
    for index, field in enumerate(table.schema):
        if (
            isinstance(field.type, pa.BaseExtensionType)
            and field.type.extension_name == "arrow.uuid"
        ):
            table = table.set_column(index, field.name, _uuid_strings(table.column(index)))
    return pl.from_arrow(table)  # type: ignore[return-value]


def read_table(client: Client, table: str) -> pl.DataFrame:
    """Every column but ``_version`` of ``table``."""
    return query_frame(client, f"SELECT * EXCEPT _version FROM {table}")


def normalize(frame: pl.DataFrame) -> pl.DataFrame:
    """Comparable dtypes: integers as Int64, decimals as Decimal(38, 2), floats as Float64."""
    casts: dict[str, pl.DataType] = {}
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            casts[name] = pl.Int64()
        elif isinstance(dtype, pl.Decimal):
            casts[name] = pl.Decimal(38, 2)
        elif dtype.is_float():
            casts[name] = pl.Float64()
    return frame.cast(casts)  # type: ignore[arg-type]


def assert_same(actual: pl.DataFrame, expected: pl.DataFrame, keys: Sequence[str]) -> None:
    """``actual`` equals ``expected`` as a set of rows keyed by ``keys`` (floats to 1e-9)."""
    assert sorted(actual.columns) == sorted(expected.columns)
    assert actual.height == expected.height, (actual.height, expected.height)
    left = normalize(actual.select(expected.columns)).sort(keys, nulls_last=True)
    right = normalize(expected).sort(keys, nulls_last=True)
    assert_frame_equal(left, right, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-6)
