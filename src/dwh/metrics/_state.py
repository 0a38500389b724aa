"""The ingestion watermark of each PromQL expression, kept in ``ods.load_state``.

One row per expression, ``table_name = 'fact_metrics:<expression>'``: each expression has its
own watermark, so adding one to ``DWH_PROMETHEUS_QUERIES`` backfills it from the look-back
without re-reading the others, and one that fails does not hold the others back. ``cursor``
is the last evaluation time loaded (ISO 8601, UTC); it is written after the samples up to it
are in ClickHouse, never before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dwh.engines.postgres import connect

STATE_PREFIX = "fact_metrics:"


def state_key(expr: str) -> str:
    """The ``ods.load_state.table_name`` of an expression."""
    return STATE_PREFIX + expr


def read_watermarks(ods_dsn: str, exprs: Sequence[str]) -> dict[str, datetime | None]:
    """The last loaded evaluation time of each expression (``None``: never loaded)."""
    keys = [state_key(expr) for expr in exprs]
    with connect(ods_dsn, "DWH_ODS_DSN") as conn:
        rows = conn.execute(
            "SELECT table_name, cursor FROM ods.load_state WHERE table_name = ANY(%s)", (keys,)
        ).fetchall()
    cursors = {str(key): cursor for key, cursor in rows}
    return {
        expr: datetime.fromisoformat(cursor) if (cursor := cursors.get(state_key(expr))) else None
        for expr in exprs
    }


def write_state(
    ods_dsn: str, expr: str, *, watermark: datetime | None, rows: int, status: str
) -> None:
    """Record a run's outcome for ``expr``; a ``None`` watermark keeps the stored one."""
    with connect(ods_dsn, "DWH_ODS_DSN") as conn:
        conn.execute(
            """
            INSERT INTO ods.load_state AS s
                (table_name, cursor, last_run_at, last_run_rows, last_run_status)
            VALUES (%(key)s, %(cursor)s, now(), %(rows)s, %(status)s)
            ON CONFLICT (table_name) DO UPDATE SET
                cursor = coalesce(excluded.cursor, s.cursor),
                last_run_at = excluded.last_run_at,
                last_run_rows = excluded.last_run_rows,
                last_run_status = excluded.last_run_status
            """,
            {
                "key": state_key(expr),
                "cursor": None if watermark is None else watermark.isoformat(),
                "rows": rows,
                "status": status,
            },
        )
