"""Fixtures of the events tests: a real Kafka-protocol broker (tansu, in memory, on a free
loopback port), a migrated ODS database and a migrated chDB warehouse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from dwh.config import Settings
from dwh.dds import apply_migrations
from dwh.engines.clickhouse import open_client
from dwh.engines.embedded import Dsns
from dwh.events import EmbeddedBroker, ensure_topics
from dwh.ods import upgrade_ods

# Record times of the test events: a fixed hour, so hourly aggregates are predictable.
EVENTS_START = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A running tansu broker, stopped after the test."""
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as running:
        yield running


@pytest.fixture
def warehouse(pg_dsn: str, chdb_dsn: str) -> Dsns:
    """A migrated ODS database and chDB warehouse (no source: events only)."""
    upgrade_ods(pg_dsn)
    client = open_client(chdb_dsn)
    try:
        apply_migrations(client)
    finally:
        client.close()  # one chDB path per process: the code under test opens its own
    return Dsns(source=pg_dsn, replica=pg_dsn, ods=pg_dsn, clickhouse=chdb_dsn)


@pytest.fixture
def events_settings(tmp_path: Path, broker: EmbeddedBroker, warehouse: Dsns) -> Settings:
    """Settings for the consumer: the test broker, unique topics and group, quick batches."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        home=tmp_path / "home",
        source_dsn=warehouse.source,
        replica_dsn=warehouse.replica,
        ods_dsn=warehouse.ods,
        clickhouse_dsn=warehouse.clickhouse,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_group_id=f"dwh-test-{suffix}",
        kafka_session_timeout_ms=6_000,
        events_batch_size=2_000,
        events_batch_seconds=0.3,
        events_refresh_seconds=0,
        topic_name_triggers=f"triggers-{suffix}",
        topic_name_results=f"results-{suffix}",
    )
    ensure_topics(
        broker.bootstrap_servers,
        {settings.topic_name_triggers: 2, settings.topic_name_results: 1},
    )
    return settings


def trigger_records(
    settings: Settings, count: int, *, start: datetime = EVENTS_START
) -> pl.DataFrame:
    """``count`` valid triggers, one a second from ``start`` (``topic``, ``value``,
    ``timestamp``: what :func:`dwh.events.publish` takes)."""
    names = ["start_pipeline", "estimate_cost", "assign_performer"]
    return pl.DataFrame(
        {
            "topic": [settings.topic_name_triggers] * count,
            "value": [
                f'{{"pipeline_id": "{uuid.UUID(int=i + 1)}", "stage_name": "{names[i % 3]}"}}'
                for i in range(count)
            ],
            "timestamp": [start + timedelta(seconds=i) for i in range(count)],
        },
        schema={"topic": pl.String, "value": pl.String, "timestamp": pl.Datetime("us", "UTC")},
    )
