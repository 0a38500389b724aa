"""``dwh status``: where every table's load stands, how fresh it is, how far the replica lags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dwh.engines.embedded import Dsns
from dwh.engines.postgres import connect
from dwh.ods.models import DATA_TABLES


@dataclass(frozen=True)
class TableStatus:
    """One ``ods.load_state`` row with the table's size and freshness."""

    table: str
    cursor: str | None
    last_run_at: datetime | None
    last_run_rows: int | None
    last_run_status: str | None
    rows: int | None
    freshness: timedelta | None
    """Time since the table last changed in the ODS."""


@dataclass(frozen=True)
class WarehouseStatus:
    """Per-table load state and the replica's replay lag."""

    tables: list[TableStatus]
    replica_lag: timedelta | None
    """``now() - pg_last_xact_replay_timestamp()`` on the replica; ``None`` when unknown."""
    replica_is_standby: bool


def warehouse_status(dsns: Dsns) -> WarehouseStatus:
    """Read the load state of every table and the replica's lag."""
    with connect(dsns.replica, "DWH_REPLICA_DSN", autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), now() - pg_last_xact_replay_timestamp()"
        ).fetchone()
    standby, lag = row if row else (False, None)
    tables: list[TableStatus] = []
    with connect(dsns.ods, "DWH_ODS_DSN", autocommit=True) as conn:
        state = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT table_name, cursor, last_run_at, last_run_rows, last_run_status"
                " FROM ods.load_state ORDER BY table_name"
            ).fetchall()
        }
        for name in sorted(set(state) | set(DATA_TABLES)):
            rows = freshness = None
            if name in DATA_TABLES:
                rows, freshness = conn.execute(
                    f"SELECT count(*), now() - max(_loaded_at) FROM ods.{name}"
                ).fetchone() or (None, None)
            cursor, last_run_at, last_rows, last_status = state.get(name, (None,) * 4)
            tables.append(
                TableStatus(name, cursor, last_run_at, last_rows, last_status, rows, freshness)
            )
    return WarehouseStatus(tables, lag if standby else None, bool(standby))
