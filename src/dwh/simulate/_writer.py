"""Write a generated history into a source database with COPY, in one transaction."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from dwh.engines.postgres import connect
from dwh.simulate._history import History, generate_history

SOURCE_SQL = Path(__file__).resolve().parents[3] / "schemas" / "source" / "source.sql"
_SETTING = "DWH_SOURCE_DSN"
_CHUNK_ROWS = 100_000  # bounds memory: one CSV chunk is ~15-25 MB
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.6f%:z"


@dataclass(frozen=True)
class SimulationSummary:
    """Rows appended per table by one :func:`simulate` call, and how long it took."""

    orders: int
    pipelines: int
    stages: int
    deliveries: int
    configs: int
    elapsed_seconds: float

    @property
    def orders_per_minute(self) -> float:
        """End-to-end throughput (generation and COPY)."""
        return self.orders * 60.0 / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


def create_source_schema(dsn: str) -> None:
    """Create the platform's source tables and indexes if they are missing (idempotent)."""
    with connect(dsn, _SETTING) as conn:
        conn.execute(SOURCE_SQL.read_text(encoding="utf-8"))


def simulate(
    dsn: str,
    *,
    orders: int,
    days: float = 30.0,
    seed: int = 0,
    end: datetime | None = None,
    anomalies: bool = False,
    config_every: timedelta = timedelta(hours=1),
) -> SimulationSummary:
    """Append a simulated history of ``orders`` orders to the source database at ``dsn``.

    Orders are registered during the ``days`` before ``end`` (default: now, UTC); the same
    arguments give the same rows, and another ``seed`` appends new orders. The schema is
    created if missing. Config rows already present for a refresh slot are kept and not
    written again: the tariff depends only on the time, so both runs agree on it.
    """
    started = time.perf_counter()
    history = generate_history(
        orders, days=days, seed=seed, end=end, anomalies=anomalies, config_every=config_every
    )
    with connect(dsn, _SETTING) as conn:
        conn.execute(SOURCE_SQL.read_text(encoding="utf-8"))
        configs = _new_configs(conn, history.config)
        frames = history.tables() | {"config": configs}
        for table, frame in frames.items():
            _copy(conn, table, frame)
    return _summary(history, configs.height, time.perf_counter() - started)


def _new_configs(conn: psycopg.Connection, config: pl.DataFrame) -> pl.DataFrame:
    if config.is_empty():
        return config
    # Serialise concurrent simulators so two of them cannot both add the same refresh slot.
    conn.execute("LOCK TABLE config IN SHARE ROW EXCLUSIVE MODE")
    low, high = config["fetched_at"].min(), config["fetched_at"].max()
    rows = conn.execute(
        "SELECT fetched_at FROM config WHERE fetched_at BETWEEN %s AND %s", (low, high)
    ).fetchall()
    if not rows:
        return config
    seen = pl.Series([r[0] for r in rows], dtype=config.schema["fetched_at"])
    return config.filter(~pl.col("fetched_at").is_in(seen.implode()))


def _copy(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for chunk in frame.iter_slices(_CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False, datetime_format=_TIMESTAMP_FORMAT)
            copy.write(buffer.getbuffer())


def _summary(history: History, configs: int, elapsed: float) -> SimulationSummary:
    return SimulationSummary(
        orders=history.order.height,
        pipelines=history.pipeline.height,
        stages=history.stage.height,
        deliveries=history.delivery.height,
        configs=configs,
        elapsed_seconds=round(elapsed, 3),
    )
