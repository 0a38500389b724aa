"""Querying the warehouse (DDS and marts) from the CLI, notebooks and reports."""

from __future__ import annotations

import polars as pl

from dwh.config import Settings
from dwh.engines.clickhouse import open_client
from dwh.engines.clickhouse import query_frame as _query_frame
from dwh.errors import DwhError


def query_frame(settings: Settings, query: str) -> pl.DataFrame:
    """Run one ClickHouse query on the configured warehouse and return the result as Polars."""
    client = open_client(settings.effective_clickhouse_dsn)
    try:
        return _query_frame(client, query)
    except Exception as exc:
        if isinstance(exc, DwhError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DwhError(f"query failed: {first}") from None
    finally:
        client.close()
