"""Fixtures for the production-stack tests: the compose file, a small simulated warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dwh.engines.embedded import Dsns
from dwh.simulate import create_source_schema, simulate

from .stack import REPO, load_yaml

SIMULATION_END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """The base compose file, parsed."""
    parsed: dict[str, Any] = load_yaml(REPO / "docker-compose.yml")
    return parsed


@pytest.fixture
def warehouse_dsns(pg_database_factory: object, chdb_dsn: str) -> Dsns:
    """A source with 300 simulated orders (read directly as the replica), an ODS and a chDB."""
    source = pg_database_factory("dwh_source")  # type: ignore[operator]
    ods = pg_database_factory("dwh_ods")  # type: ignore[operator]
    create_source_schema(source)
    simulate(source, orders=300, days=2, seed=11, end=SIMULATION_END)
    return Dsns(source=source, replica=source, ods=ods, clickhouse=chdb_dsn)
