"""The migration runner: ordered, recorded, idempotent, checksum-guarded."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from dwh.dds import MigrationError, apply_migrations, discover_migrations
from dwh.dds.migrate import DEFAULT_SCHEMAS_DIR


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, copy)
    return copy


def test_default_dir_is_the_repository_schemas() -> None:
    keys = [m.key for m in discover_migrations()]
    assert keys[0] == "dds/001_fact_orders.sql"
    assert keys.index("dds/009_hourly_events_mv.sql") < keys.index(
        "marts/001_performer_efficiency.sql"
    )


def test_applies_in_order_once(clickhouse: Client, schemas: Path) -> None:
    applied = apply_migrations(clickhouse, schemas)
    assert applied == [m.key for m in discover_migrations(schemas)]
    assert [k.split("/")[0] for k in applied] == sorted(k.split("/")[0] for k in applied)
    assert apply_migrations(clickhouse, schemas) == []
    recorded = clickhouse.query("SELECT migration FROM dds.schema_migrations ORDER BY migration")
    assert sorted(row[0] for row in recorded.result_rows) == sorted(applied)
    tables = {row[0] for row in clickhouse.query("SHOW TABLES FROM marts").result_rows}
    assert "failure_reasons" in tables


def test_new_file_is_applied_alone(clickhouse: Client, schemas: Path) -> None:
    apply_migrations(clickhouse, schemas)
    (schemas / "marts" / "900_scratch.sql").write_text(
        "-- two statements in one file\n"
        "CREATE TABLE IF NOT EXISTS marts.scratch (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
        "INSERT INTO marts.scratch VALUES (7);\n"
    )
    assert apply_migrations(clickhouse, schemas) == ["marts/900_scratch.sql"]
    assert clickhouse.query("SELECT x FROM marts.scratch").result_rows == [(7,)]


def test_changed_applied_file_is_refused(clickhouse: Client, schemas: Path) -> None:
    apply_migrations(clickhouse, schemas)
    target = schemas / "dds" / "005_dim_performers.sql"
    target.write_text(target.read_text() + "\n-- edited\n")
    (schemas / "marts" / "900_scratch.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=re.escape("dds/005_dim_performers.sql")):
        apply_migrations(clickhouse, schemas)
    # Nothing else ran: the check comes before any statement.
    recorded = clickhouse.query("SELECT count() FROM dds.schema_migrations").result_rows[0][0]
    assert recorded == len(discover_migrations(DEFAULT_SCHEMAS_DIR))


def test_file_numbered_below_an_applied_one_is_refused(clickhouse: Client, schemas: Path) -> None:
    apply_migrations(clickhouse, schemas)
    (schemas / "dds" / "004_late.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="004"):
        apply_migrations(clickhouse, schemas)


@pytest.mark.parametrize("name", ["1_short.sql", "010_Upper.sql", "fact.sql"])
def test_misnamed_file_is_refused(schemas: Path, name: str) -> None:
    (schemas / "dds" / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=re.escape("NNN_<object>.sql")):
        discover_migrations(schemas)


def test_duplicate_number_is_refused(schemas: Path) -> None:
    (schemas / "dds" / "001_other.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="taken"):
        discover_migrations(schemas)
