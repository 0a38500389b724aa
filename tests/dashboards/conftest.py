"""A demo-loaded warehouse for the dashboard tests, built once per session.

A simulated source goes through the real ETL (which also records the run in
``marts.warehouse_runs``); then the two inputs the ETL does not produce are added so that
every panel has rows: Kafka events (one trigger per stage row, straight into
``dds.fact_events``) and Prometheus samples (the prober's, the consumer's and process metrics,
through the metrics loader), and the hourly tables and marts are refreshed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dwh.config import Settings
from dwh.dds import refresh_hourly
from dwh.engines.clickhouse import open_client
from dwh.engines.embedded import Dsns
from dwh.engines.postgres import with_database
from dwh.etl import migrate, run_etl
from dwh.marts import refresh_marts
from dwh.metrics import build_fact_metrics, load_fact_metrics
from dwh.metrics._prometheus import _samples
from dwh.observability import Run, finish_run
from dwh.simulate import create_source_schema, simulate

ORDERS = 1_000
DAYS = 7


@dataclass(frozen=True)
class DemoWarehouse:
    """Settings that point at the warehouse (ClickHouse only is needed after the build)."""

    settings: Settings
    chdb_dsn: str


def _counter(start: datetime, minutes: int, rng: random.Random, rate: tuple[int, int]) -> list:
    total = 0.0
    values = []
    for minute in range(minutes):
        total += rng.randint(*rate)
        values.append([(start + timedelta(minutes=minute)).timestamp(), str(total)])
    return values


def _gauge(start: datetime, minutes: int, rng: random.Random, low: float, high: float) -> list:
    return [
        [(start + timedelta(minutes=minute)).timestamp(), str(round(rng.uniform(low, high), 3))]
        for minute in range(minutes)
    ]


def prometheus_samples(end: datetime, hours: int = 6) -> dict[str, list[dict[str, Any]]]:
    """A few hours of per-minute samples, as Prometheus' query_range would return them."""
    rng = random.Random(11)
    start = end.replace(second=0, microsecond=0) - timedelta(hours=hours)
    minutes = hours * 60
    prober = {"job": "prober", "instance": "prober:6200"}

    def series(name: str, values: list, **labels: str) -> dict[str, Any]:
        return {"metric": {"__name__": name, **prober, **labels}, "values": values}

    created = _counter(start, minutes, rng, (2, 4))
    failed = _counter(start, minutes, rng, (0, 1))
    succeeded = [
        [t, str(float(c) - float(f))] for (t, c), (_, f) in zip(created, failed, strict=True)
    ]
    return {
        "prober_create_orders_total": [series("prober_create_orders_total", created)],
        "prober_create_orders_success_total": [
            series("prober_create_orders_success_total", succeeded)
        ],
        "prober_create_orders_fail_total": [series("prober_create_orders_fail_total", failed)],
        "prober_create_orders_duration_seconds": [
            series("prober_create_orders_duration_seconds", _gauge(start, minutes, rng, 0.05, 0.6))
        ],
        "prober_cancel_orders_total": [
            series("prober_cancel_orders_total", _counter(start, minutes, rng, (0, 1)))
        ],
        "dwh_consumer_lag_messages": [
            {
                "metric": {"__name__": "dwh_consumer_lag_messages", "job": "dwh", "topic": topic},
                "values": _gauge(start, minutes, rng, 0, 40),
            }
            for topic in ("trigger-channel", "result-channel")
        ],
        "dwh_events_consumed_total": [
            {
                "metric": {"__name__": "dwh_events_consumed_total", "event_type": kind},
                "values": _counter(start, minutes, rng, (5, 9)),
            }
            for kind in ("trigger", "result")
        ],
        "dwh_dead_letters_total": [
            {
                "metric": {"__name__": "dwh_dead_letters_total", "topic": "result-channel"},
                "values": _counter(start, minutes, rng, (0, 1)),
            }
        ],
        "process_resident_memory_bytes": [
            {
                "metric": {"__name__": "process_resident_memory_bytes", "job": job},
                "values": _gauge(start, minutes, rng, 4e7, 9e7),
            }
            for job in ("prober", "http-api")
        ],
    }


_TRIGGERS = """
INSERT INTO dds.fact_events
    (event_id, event_type, topic, `partition`, `offset`, event_timestamp, pipeline_id,
     stage_name, _version)
SELECT generateUUIDv4(), 'trigger', 'trigger-channel', 0, rowNumberInAllBlocks(), created_at,
       pipeline_id, name, 1
FROM dds.fact_stages FINAL
"""


def _load_extras(chdb_dsn: str, end: datetime) -> None:
    client = open_client(chdb_dsn)
    try:
        client.command(_TRIGGERS)
        for expr, result in prometheus_samples(end).items():
            frame = build_fact_metrics(_samples(expr, result).lazy()).collect()
            load_fact_metrics(client, frame, version=1)
        refresh_hourly(client)
        refresh_marts(client, sla_target_seconds=3600)
    finally:
        client.close()


@pytest.fixture(scope="session")
def demo_warehouse(
    pg_server_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoWarehouse]:
    """The warehouse after one ETL run over a simulated week ending now, plus events/metrics."""
    names = [f"dwh_dash_{role}_{uuid.uuid4().hex[:8]}" for role in ("source", "ods")]
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    root: Path = tmp_path_factory.mktemp("dashboards")
    chdb_dsn = f"chdb://{root / 'chdb'}"
    source, ods = (with_database(pg_server_dsn, name) for name in names)
    try:
        create_source_schema(source)
        end = datetime.now(UTC)
        simulate(source, orders=ORDERS, days=DAYS, seed=5, end=end)
        dsns = Dsns(source=source, replica=source, ods=ods, clickhouse=chdb_dsn)
        settings = Settings(
            home=root / "home",
            source_dsn=source,
            replica_dsn=source,
            ods_dsn=ods,
            clickhouse_dsn=chdb_dsn,
        )
        migrate(dsns)
        run_etl(settings, dsns)
        _load_extras(chdb_dsn, end)
        # The test's "replica" is its source, not a standby, so the ETL measured no lag; record
        # a run as one against a standby 1.5 s behind would be.
        behind = Run(job="metrics", rows=42, replica_lag_seconds=1.5)
        behind.finished_at = behind.started_at + timedelta(seconds=2)
        behind.status = "succeeded"
        finish_run(behind, settings, chdb_dsn)
        yield DemoWarehouse(settings=settings, chdb_dsn=chdb_dsn)
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
