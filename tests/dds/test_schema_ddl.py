"""Each dataframely schema matches the columns of its ClickHouse table after the migrations."""

from __future__ import annotations

import dataframely as dy
import pytest
from clickhouse_connect.driver.client import Client

from dwh.dds import DDS_SCHEMAS, apply_migrations
from dwh.dds._columns import UUID_REGEX


def _clickhouse_types(column: dy.Column) -> set[str]:
    """The ClickHouse types a dataframely column may be stored as."""
    if isinstance(column, dy.String):
        base = {"UUID"} if column.regex == UUID_REGEX else {"String", "LowCardinality(String)"}
    elif isinstance(column, dy.Datetime):
        base = {"DateTime64(6, 'UTC')"}
    elif isinstance(column, dy.Decimal):
        base = {f"Decimal({column.precision}, {column.scale})"}
    else:
        # UInt32, Int64, Float64, Bool, …: dataframely and ClickHouse spell them alike.
        base = {type(column).__name__}
    if not column.nullable:
        return base
    return {
        f"LowCardinality(Nullable({t[15:-1]}))"
        if t.startswith("LowCardinality(")
        else f"Nullable({t})"
        for t in base
    }


@pytest.fixture
def migrated(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


@pytest.mark.parametrize("table", sorted(DDS_SCHEMAS))
def test_schema_matches_ddl(migrated: Client, table: str) -> None:
    rows = migrated.query(
        "SELECT name, type FROM system.columns WHERE database = 'dds' AND table = {t:String} "
        "ORDER BY position",
        parameters={"t": table},
    ).result_rows
    ddl = {str(name): str(kind) for name, kind in rows}
    assert ddl.pop("_version") == "UInt64"
    schema = DDS_SCHEMAS[table]
    assert list(ddl) == schema.column_names()
    for name, column in schema.columns().items():
        assert ddl[name] in _clickhouse_types(column), (name, ddl[name])
