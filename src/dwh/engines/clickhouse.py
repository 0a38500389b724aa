"""ClickHouse client for both engines: chDB in-process (``chdb:///path``) or a server (``http://``).

Every client reads with ``final = 1`` so that plain queries on ``ReplacingMergeTree`` tables see
one row per key even before a merge; this is what keeps the seed's example queries exact.
"""

from __future__ import annotations

from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from dwh.errors import ConfigError

QUERY_SETTINGS: dict[str, Any] = {"final": 1}


def open_client(dsn: str, setting: str = "DWH_CLICKHOUSE_DSN") -> Client:
    """Open a ClickHouse client for ``dsn``; failures raise :class:`ConfigError` naming ``setting``."""
    if dsn.startswith("chdb://"):
        from pathlib import Path

        Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=dsn, settings=QUERY_SETTINGS)
    except Exception as exc:  # clickhouse-connect raises several unrelated types here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(setting, f"cannot open ClickHouse ({reason})") from None
