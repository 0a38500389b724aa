"""Fixtures of the ODS tests."""

from __future__ import annotations

import pytest

from dwh.ods import upgrade_ods


@pytest.fixture
def ods_dsn(pg_dsn: str) -> str:
    """A fresh database migrated to the latest ODS revision."""
    upgrade_ods(pg_dsn)
    return pg_dsn
