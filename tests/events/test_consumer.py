"""The consumer against a real broker (tansu): ingest, redelivery, crashes, broker outages.

Counts are read from the ODS and the DDS, never from the broker's watermarks (tansu reports a
wrong high watermark).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psycopg
import pytest

from dwh.config import Settings
from dwh.engines.clickhouse import open_client, query_frame
from dwh.engines.embedded import Dsns
from dwh.events import EmbeddedBroker, ensure_topics, free_port, publish, run_events
from tests.events.conftest import EVENTS_START, trigger_records

pytestmark = pytest.mark.integration


def _ods_counts(dsn: str) -> tuple[int, int, int]:
    """Rows, distinct identities and dead letters in the ODS."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            'SELECT count(*), count(DISTINCT (topic, "partition", "offset")),'
            " (SELECT count(*) FROM ods.events_dead_letter) FROM ods.events"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _dds(dsn: str, query: str) -> pl.DataFrame:
    client = open_client(dsn)
    try:
        return query_frame(client, query)
    finally:
        client.close()


def _assert_dds_exact(
    dsn: str, expected_rows: int, identity: str = "topic, `partition`, `offset`"
) -> None:
    """fact_events holds each record once, and the hourly table equals a recomputation."""
    counts = _dds(
        dsn,
        f"SELECT count() AS n, uniqExact({identity}) AS ids,"
        " (SELECT sum(events_count) FROM dds.hourly_events_mv) AS hourly"
        " FROM dds.fact_events",
    ).row(0, named=True)
    assert counts == {"n": expected_rows, "ids": expected_rows, "hourly": expected_rows}
    stored = _dds(dsn, "SELECT hour, event_type, events_count FROM dds.hourly_events_mv")
    recomputed = _dds(
        dsn,
        "SELECT toDateTime64(toStartOfHour(event_timestamp), 6, 'UTC') AS hour, event_type,"
        " count() AS events_count FROM dds.fact_events FINAL GROUP BY hour, event_type",
    )
    assert stored.sort("hour", "event_type").equals(recomputed.sort("hour", "event_type"))


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _bad_records(settings: Settings) -> pl.DataFrame:
    pipeline = "0b6f1f3e-8a0c-4d52-9a57-3f1d2c4b5a69"
    values = [
        b"not json at all",
        json.dumps({"pipeline_id": pipeline, "stage_name": "teleport"}).encode(),
        json.dumps({"pipeline_id": "nope", "stage_name": "estimate_cost"}).encode(),
        json.dumps({"stage_id": pipeline, "status": "in_progress"}).encode(),
        b'{"stage_id": "' + pipeline.encode() + b'", "pad": "' + b"x" * 70_000 + b'"}',
    ] + [b"poison"] * 5
    topics = [settings.topic_name_triggers] * 3 + [settings.topic_name_results] * 2
    topics += [settings.topic_name_triggers] * 5
    return pl.DataFrame(
        {"topic": topics, "value": values, "timestamp": [EVENTS_START] * len(values)},
        schema={"topic": pl.String, "value": pl.Binary, "timestamp": pl.Datetime("us", "UTC")},
    )


def test_ingest_dead_letters_and_redelivery_are_exact(
    events_settings: Settings, warehouse: Dsns, broker: EmbeddedBroker
) -> None:
    good = trigger_records(events_settings, 3_000)
    bad = _bad_records(events_settings)
    # Bad records in the middle of good ones: the stream must flow past them.
    publish(broker.bootstrap_servers, good.head(1_500))
    publish(broker.bootstrap_servers, bad)
    publish(broker.bootstrap_servers, good.slice(1_500))
    total = good.height + bad.height

    report = run_events(events_settings, warehouse, max_messages=total, max_seconds=60)
    assert report.records == total
    assert report.events_inserted == good.height
    assert report.dead_letters == bad.height
    assert _ods_counts(warehouse.ods) == (good.height, good.height, bad.height)
    _assert_dds_exact(warehouse.clickhouse, good.height)
    with psycopg.connect(warehouse.ods) as conn:
        errors = [r[0] for r in conn.execute("SELECT error FROM ods.events_dead_letter")]
    assert any("DWH_EVENTS_MAX_MESSAGE_BYTES" in e for e in errors)
    assert any("teleport" in e or "must be one of" in e for e in errors)

    # The offsets were committed: the group has nothing left to read.
    again = run_events(events_settings, warehouse, max_seconds=8)
    assert again.records == 0

    # Redelivery of committed data (a new group reads everything again): nothing changes.
    replay_settings = events_settings.model_copy(
        update={"kafka_group_id": events_settings.kafka_group_id + "-replay"}
    )
    replay = run_events(replay_settings, warehouse, max_messages=total, max_seconds=60)
    assert replay.records == total
    assert replay.events_inserted == 0
    assert replay.duplicates == good.height
    assert _ods_counts(warehouse.ods) == (good.height, good.height, bad.height)
    _assert_dds_exact(warehouse.clickhouse, good.height)


def _consume_process(settings: Settings, *, batch_size: int = 2_000) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_API"))}
    env.update(
        {
            "DWH_HOME": str(settings.home),
            "DWH_SOURCE_DSN": settings.source_dsn,
            "DWH_REPLICA_DSN": settings.replica_dsn,
            "DWH_ODS_DSN": settings.ods_dsn,
            "DWH_CLICKHOUSE_DSN": settings.clickhouse_dsn,
            "DWH_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "DWH_KAFKA_GROUP_ID": settings.kafka_group_id,
            "DWH_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "DWH_EVENTS_BATCH_SIZE": str(batch_size),
            "DWH_EVENTS_BATCH_SECONDS": "0.3",
            "DWH_EVENTS_REFRESH_SECONDS": "0",
            "TOPIC_NAME_TRIGGERS": settings.topic_name_triggers,
            "TOPIC_NAME_RESULTS": settings.topic_name_results,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "dwh", "consume"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"consumer did not stop on SIGTERM: {err}") from None
    assert process.returncode == 0, err
    return out, err


def test_sigkill_mid_stream_then_restart_loads_every_record_once(
    events_settings: Settings, warehouse: Dsns, broker: EmbeddedBroker
) -> None:
    records = trigger_records(events_settings, 40_000)
    publish(broker.bootstrap_servers, records)
    consumer = _consume_process(events_settings, batch_size=1_000)
    try:
        _wait_for(lambda: _ods_counts(warehouse.ods)[0] >= 3_000, 90, "a few batches")
    finally:
        consumer.kill()  # SIGKILL: no handler runs, whatever batch is in flight is cut
        consumer.wait()
    loaded_before = _ods_counts(warehouse.ods)[0]
    assert 0 < loaded_before < records.height, "the kill should land mid-stream"

    restarted = _consume_process(events_settings, batch_size=5_000)
    try:
        _wait_for(lambda: _ods_counts(warehouse.ods)[0] == records.height, 120, "every record")
    finally:
        out, err = _stop(restarted)
    assert "Traceback" not in err
    assert "stopped:" in out
    assert _ods_counts(warehouse.ods) == (records.height, records.height, 0)
    _assert_dds_exact(warehouse.clickhouse, records.height)


def test_unreachable_broker_is_one_line_and_retried_until_it_appears(
    events_settings: Settings, warehouse: Dsns, tmp_path: Path
) -> None:
    port = free_port()
    settings = events_settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    consumer = _consume_process(settings)
    try:
        time.sleep(8)
        assert consumer.poll() is None, "the consumer must keep retrying, not exit"
        with EmbeddedBroker(port, log_path=tmp_path / "late.log") as late:
            ensure_topics(late.bootstrap_servers, {settings.topic_name_triggers: 1})
            publish(late.bootstrap_servers, trigger_records(settings, 500))
            _wait_for(lambda: _ods_counts(warehouse.ods)[0] == 500, 90, "ingest after start")
            out, err = _stop(consumer)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    assert "Traceback" not in err
    unreachable = [line for line in err.splitlines() if "unreachable" in line]
    # One line for the outage (repeated at most once a minute), naming the setting.
    assert len(unreachable) == 1, err
    assert "DWH_KAFKA_BOOTSTRAP_SERVERS" in unreachable[0]
    assert "reachable again" in err
    assert "500 records" in out


def test_consumer_recovers_from_a_broker_restart(
    events_settings: Settings, warehouse: Dsns, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    consumer = _consume_process(events_settings)
    try:
        publish(broker.bootstrap_servers, trigger_records(events_settings, 300))
        _wait_for(lambda: _ods_counts(warehouse.ods)[0] == 300, 90, "first records")
        broker.stop()
        time.sleep(3)
        # tansu keeps its log in memory: the restarted broker is empty. Later records
        # carry later timestamps, so identities never collide with the first ones.
        with EmbeddedBroker(broker.port, log_path=tmp_path / "restarted.log") as again:
            ensure_topics(
                again.bootstrap_servers,
                {events_settings.topic_name_triggers: 2, events_settings.topic_name_results: 1},
            )
            later = EVENTS_START.replace(day=20)
            publish(again.bootstrap_servers, trigger_records(events_settings, 200, start=later))
            _wait_for(lambda: _ods_counts(warehouse.ods)[0] == 500, 120, "records after restart")
            _out, err = _stop(consumer)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    assert "Traceback" not in err
    # The empty restarted log reuses offsets; with the record time they stay one row each.
    _assert_dds_exact(
        warehouse.clickhouse, 500, identity="topic, `partition`, `offset`, event_timestamp"
    )
