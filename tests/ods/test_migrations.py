"""Alembic migrations of the ODS against a real PostgreSQL: up, down, up, and no drift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dwh.ods import downgrade_ods, ensure_event_partitions, upgrade_ods
from dwh.ods._migrate import context_options, sqlalchemy_url
from dwh.ods.models import Base

pytestmark = pytest.mark.integration

ODS_TABLES = {
    "configs",
    "deliveries",
    "events",
    "events_dead_letter",
    "load_state",
    "orders",
    "performers",
    "pipelines",
    "quarantine",
    "stages",
}


@pytest.fixture
def engine(pg_dsn: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlalchemy_url(pg_dsn), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def _diff(engine: sa.Engine, **overrides: Any) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=context_options() | overrides)
        return list(compare_metadata(context, Base.metadata))


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names(schema="ods"))


def test_upgrade_downgrade_upgrade(pg_dsn: str, engine: sa.Engine) -> None:
    upgrade_ods(pg_dsn)
    assert _tables(engine) == ODS_TABLES | {"alembic_version"}
    assert _diff(engine) == []

    downgrade_ods(pg_dsn, "-1")  # one revision back: every table is still there
    assert _tables(engine) == ODS_TABLES | {"alembic_version"}
    upgrade_ods(pg_dsn)
    assert _diff(engine) == []

    downgrade_ods(pg_dsn, "base")
    assert _tables(engine) == {"alembic_version"}

    upgrade_ods(pg_dsn)
    assert _tables(engine) == ODS_TABLES | {"alembic_version"}
    assert _diff(engine) == []
    upgrade_ods(pg_dsn)  # already at head: a no-op


def test_version_table_lives_in_schema_ods(pg_dsn: str) -> None:
    upgrade_ods(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT version_num FROM ods.alembic_version").fetchone()
        public = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
    assert row == ("0002",)
    assert public == (None,)


def test_autogenerate_ignores_event_partitions_but_sees_real_drift(
    pg_dsn: str, engine: sa.Engine
) -> None:
    upgrade_ods(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        created = ensure_event_partitions(
            conn, [date(2024, 12, 31), datetime(2025, 1, 1, tzinfo=UTC)]
        )
    assert created == ["events_p202412", "events_p202501"]
    assert _diff(engine) == []
    # Without the filter the partitions would show up as tables to drop: the filter is needed.
    unfiltered = _diff(engine, include_object=None)
    assert {d[1].name for d in unfiltered if d[0] == "remove_table"} == set(created)
    # And a real difference is still reported.
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE ods.orders ADD COLUMN stray text"))
    assert [d[0] for d in _diff(engine)] == ["remove_column"]


def test_event_partitions_on_demand(pg_dsn: str) -> None:
    upgrade_ods(pg_dsn)
    insert = (
        "INSERT INTO ods.events (event_id, event_timestamp, event_type, event_data, topic,"
        " partition, \"offset\") VALUES (gen_random_uuid(), %s, 'trigger', '{}', 't', 0, 1)"
    )
    moment = datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)
    with psycopg.connect(pg_dsn) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):  # no partition for that month yet
            conn.execute(insert, (moment,))
        conn.rollback()
        assert ensure_event_partitions(conn, [moment, moment]) == ["events_p202503"]
        assert ensure_event_partitions(conn, [moment]) == []  # idempotent
        conn.execute(insert, (moment,))
        conn.commit()
        assert conn.execute("SELECT count(*) FROM ods.events_p202503").fetchone() == (1,)
        with pytest.raises(psycopg.errors.CheckViolation):  # April still has none
            conn.execute(insert, (datetime(2025, 4, 1, tzinfo=UTC),))


def test_socket_dsn_becomes_a_psycopg_sqlalchemy_url() -> None:
    dsn = "postgresql://postgres:@/ods?host=/abs/socket/dir"
    url = sa.make_url(sqlalchemy_url(dsn))
    assert url.drivername == "postgresql+psycopg"
    assert url.database == "ods"
    assert url.query["host"] == "/abs/socket/dir"
