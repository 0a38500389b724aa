"""Fixtures for end-to-end runs: a simulated source, an ODS database and a chDB warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dwh.config import Settings
from dwh.engines.embedded import Dsns
from dwh.simulate import create_source_schema, simulate

# A fixed end keeps the simulated history (and so every expected figure) reproducible.
SIMULATION_END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def dsns(pg_database_factory: object, chdb_dsn: str) -> Dsns:
    """Engines for one run: the test reads the source database directly as its replica."""
    source = pg_database_factory("dwh_source")  # type: ignore[operator]
    ods = pg_database_factory("dwh_ods")  # type: ignore[operator]
    create_source_schema(source)
    return Dsns(source=source, replica=source, ods=ods, clickhouse=chdb_dsn)


@pytest.fixture
def settings(tmp_path: Path, dsns: Dsns) -> Settings:
    """Settings matching ``dsns``."""
    return Settings(
        home=tmp_path / "home",
        source_dsn=dsns.source,
        replica_dsn=dsns.replica,
        ods_dsn=dsns.ods,
        clickhouse_dsn=dsns.clickhouse,
    )


@pytest.fixture
def simulated(dsns: Dsns) -> Dsns:
    """``dsns`` with 1,500 simulated orders in the source."""
    simulate(dsns.source, orders=1_500, days=5, seed=7, end=SIMULATION_END)
    return dsns
