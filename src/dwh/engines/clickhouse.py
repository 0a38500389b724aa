"""ClickHouse client for both engines: chDB in-process (``chdb:///path``) or a server (``http://``).

Every client reads with ``final = 1`` so that plain queries on ``ReplacingMergeTree`` tables see
one row per key even before a merge; this is what keeps the seed's example queries exact.

chDB locks its data directory while a process has it open. The warehouse therefore opens chDB
only for as long as a step needs it and closes it afterwards; a second process (``dwh sql``
during a load) waits for the lock for up to ``lock_timeout`` seconds instead of failing at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import clickhouse_connect
import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from dwh.errors import ConfigError

QUERY_SETTINGS: dict[str, Any] = {"final": 1}
_LOCKED = "Another server instance in same directory is already running"


def open_client(
    dsn: str, setting: str = "DWH_CLICKHOUSE_DSN", *, lock_timeout: float = 120.0
) -> Client:
    """Open a ClickHouse client; failures raise :class:`ConfigError` naming ``setting``."""
    if dsn.startswith("chdb://"):
        Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            return clickhouse_connect.get_client(dsn=dsn, settings=QUERY_SETTINGS)
        except Exception as exc:  # clickhouse-connect raises several unrelated types here
            message = str(exc).strip()
            if _LOCKED in message and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            if _LOCKED in message:
                reason = "the embedded warehouse is in use by another dwh process; retry later"
            else:
                reason = message.splitlines()[0] if message else type(exc).__name__
            raise ConfigError(setting, f"cannot open ClickHouse ({reason})") from None


def _uuid_to_string(column: pa.ChunkedArray) -> pl.Series:
    hexed = pl.Series(column.cast(pa.binary())).bin.encode("hex")
    return (
        hexed.str.slice(0, 8)
        + "-"
        + hexed.str.slice(8, 4)
        + "-"
        + hexed.str.slice(12, 4)
        + "-"
        + hexed.str.slice(16, 4)
        + "-"
        + hexed.str.slice(20, 12)
    )


def query_frame(client: Client, query: str) -> pl.DataFrame:
    """Run ``query`` and return a Polars frame; UUID columns come back as canonical strings."""
    table = client.query_arrow(query)
    columns: dict[str, pl.Series] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if getattr(column.type, "extension_name", None) == "arrow.uuid":
            columns[name] = _uuid_to_string(column.cast(column.type.storage_type)).alias(name)
        else:
            columns[name] = pl.Series(name, column)
    return pl.DataFrame(columns)
