"""The ODS and DDS sinks without a broker: idempotence, refused records, retention, marts."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import polars as pl
import psycopg
import pytest
from clickhouse_connect.driver.client import Client

from dwh.engines.clickhouse import open_client, query_frame
from dwh.engines.embedded import Dsns
from dwh.events import DdsEventSink, OdsEventSink, RawRecord, decode_batch
from dwh.simulate import build_events, generate_history

pytestmark = pytest.mark.integration

TOPICS = {"trigger-channel": "trigger", "result-channel": "result"}


def _records(frame: pl.DataFrame) -> list[RawRecord]:
    millis = frame.get_column("timestamp").dt.epoch("ms").to_list()
    return [
        RawRecord(topic, 0, offset, ts, value.encode())
        for offset, (topic, value, ts) in enumerate(
            zip(frame["topic"].to_list(), frame["value"].to_list(), millis, strict=True)
        )
    ]


def test_ods_write_is_idempotent_and_refused_records_become_dead_letters(
    warehouse: Dsns,
) -> None:
    pipeline = "0b6f1f3e-8a0c-4d52-9a57-3f1d2c4b5a69"
    records = [
        RawRecord(
            "trigger-channel",
            0,
            i,
            1_790_000_000_000 + i,
            f'{{"pipeline_id": "{pipeline}", "stage_name": "estimate_cost"}}'.encode(),
        )
        for i in range(40)
    ]
    batch = decode_batch(records, topics=TOPICS, max_message_bytes=1_000)
    # A record that passed the contract but PostgreSQL refuses (jsonb parses it): the batch
    # is bisected and only that record becomes a dead letter.
    poisoned = batch.events.with_columns(
        pl.when(pl.col("offset") == 17)
        .then(pl.lit('{"x": 1e999999999}'))
        .otherwise(pl.col("event_data"))
        .alias("event_data")
    )
    sink = OdsEventSink(warehouse.ods)
    try:
        first = sink.write(poisoned, batch.dead_letters, pending_since=None)
        again = sink.write(poisoned, batch.dead_letters, pending_since=None)
    finally:
        sink.close()
    assert first.inserted == 39
    assert first.dead_letters == 1
    assert len(first.refused_ids) == 1
    assert again.inserted == 0
    assert again.duplicates == 39
    assert again.dead_letters == 0  # the dead letter is unique per record
    with psycopg.connect(warehouse.ods) as conn:
        dead = conn.execute('SELECT "offset", error FROM ods.events_dead_letter').fetchall()
        events = conn.execute("SELECT count(*) FROM ods.events").fetchone()
    assert events == (39,)
    assert [row[0] for row in dead] == [17]
    assert dead[0][1].startswith("refused by PostgreSQL")


def _other_process_opens(chdb_dsn: str) -> bool:
    """Whether another process can open the embedded warehouse right now (``dwh sql``)."""
    code = (
        "import sys; from dwh.engines.clickhouse import open_client; "
        "open_client(sys.argv[1], lock_timeout=0).close()"
    )
    opened = subprocess.run([sys.executable, "-c", code, chdb_dsn], capture_output=True)
    return opened.returncode == 0


def _fact_events_count(chdb_dsn: str) -> int:
    client = open_client(chdb_dsn)
    try:
        return int(client.query("SELECT count() FROM dds.fact_events").result_rows[0][0])
    finally:
        client.close()


def test_dds_sink_holds_chdb_only_while_batches_follow(warehouse: Dsns) -> None:
    good = b'{"pipeline_id": "0b6f1f3e-8a0c-4d52-9a57-3f1d2c4b5a69", "stage_name": "estimate_cost"}'
    records = [RawRecord("trigger-channel", 0, i, 1_790_000_000_000 + i, good) for i in range(20)]
    events = decode_batch(records, topics=TOPICS, max_message_bytes=1_000).events
    sink = DdsEventSink(warehouse.clickhouse)
    try:
        sink.write(events, keep_open=True)  # a backlog: the next batch follows at once
        assert sink.is_open
        assert not _other_process_opens(warehouse.clickhouse)
        sink.write(events, keep_open=True)  # redelivered within the backlog
        sink.refresh(None)  # caught up: the last step lets go
        assert not sink.is_open
        assert _other_process_opens(warehouse.clickhouse)
        sink.write(events.head(0), keep_open=True)  # nothing to write opens nothing
        assert not sink.is_open
    finally:
        sink.close()
    assert _fact_events_count(warehouse.clickhouse) == 20


def test_dds_sink_lets_go_of_chdb_after_hold_seconds_even_in_a_backlog(
    warehouse: Dsns,
) -> None:
    done = b'{"stage_id": "5d0a7e64-2f1b-4c3a-8e9d-6b7c8a9d0e1f", "status": "succeeded"}'
    records = [RawRecord("result-channel", 0, i, 1_790_000_000_000 + i, done) for i in range(5)]
    events = decode_batch(records, topics=TOPICS, max_message_bytes=1_000).events
    sink = DdsEventSink(warehouse.clickhouse, hold_seconds=0, yield_seconds=0.01)
    try:
        for _ in range(3):
            sink.write(events, keep_open=True)
            assert not sink.is_open
    finally:
        sink.close()
    assert _fact_events_count(warehouse.clickhouse) == 5


def test_retention_drops_only_whole_months_older_than_the_setting(warehouse: Dsns) -> None:
    sink = OdsEventSink(warehouse.ods)
    months = [datetime(2026, m, 15, tzinfo=UTC) for m in (5, 6, 7, 8, 9)]
    frame = pl.DataFrame(
        {
            "event_id": [f"00000000-0000-5000-8000-00000000000{i}" for i in range(5)],
            "event_type": ["trigger"] * 5,
            "topic": ["trigger-channel"] * 5,
            "partition": [0] * 5,
            "offset": list(range(5)),
            "event_timestamp": months,
            "event_data": ["{}"] * 5,
        },
        schema_overrides={"partition": pl.Int32, "event_timestamp": pl.Datetime("us", "UTC")},
    )
    dead = pl.DataFrame(
        schema={
            "topic": pl.String,
            "partition": pl.Int32,
            "offset": pl.Int64,
            "raw": pl.Binary,
            "error": pl.String,
        }
    )
    try:
        sink.write(frame, dead, pending_since=None)
        assert sink.drop_expired_partitions(0, now=datetime(2026, 9, 20, tzinfo=UTC)) == []
        dropped = sink.drop_expired_partitions(2, now=datetime(2026, 9, 20, tzinfo=UTC))
    finally:
        sink.close()
    # September, August and July stay: two whole months before the current one are kept.
    assert dropped == ["events_p202605", "events_p202606"]
    with psycopg.connect(warehouse.ods) as conn:
        left = conn.execute("SELECT count(*) FROM ods.events").fetchone()
    assert left == (3,)


def test_stage_latency_and_resolved_events_match_the_simulated_history(
    warehouse: Dsns,
) -> None:
    from dwh.dds import build_dds, load_dds

    history = generate_history(300, days=3, seed=11, end=datetime(2026, 10, 20, tzinfo=UTC))
    records = build_events(
        history.stage.lazy(), triggers_topic="trigger-channel", results_topic="result-channel"
    ).collect()
    batch = decode_batch(_records(records), topics=TOPICS, max_message_bytes=10_000)
    assert batch.dead_letters.height == 0
    ods = {
        "orders": history.order,
        "pipelines": history.pipeline,
        "stages": history.stage,
        "deliveries": history.delivery,
        "configs": history.config,
    }
    ods_frames = {
        name: frame.with_columns(
            pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at")
        ).lazy()
        for name, frame in ods.items()
    }
    ods_frames["performers"] = pl.LazyFrame(
        schema={
            "performer_id": pl.String,
            "first_seen_at": pl.Datetime("us", "UTC"),
            "last_seen_at": pl.Datetime("us", "UTC"),
            "deliveries_count": pl.Int64,
        }
    )
    sink = DdsEventSink(warehouse.clickhouse)
    facts = {
        name: frame.collect()
        for name, frame in build_dds(ods_frames, order_class_bands=[]).items()
        if name in ("fact_stages", "fact_deliveries")
    }
    with sink.session() as client:
        load_dds(client, facts, version=1)
    sink.write(batch.events)
    sink.write(batch.events)  # redelivered: must not change anything
    sink.refresh(None)

    # Oracle: each result's latency from the latest trigger of its (pipeline, stage) before it.
    stages = history.stage.select("id", "pipeline_id", "name", "created_at", "finished_at")
    ms = pl.Datetime("ms", "UTC")
    triggers = stages.select(
        "pipeline_id", "name", pl.col("created_at").cast(ms).alias("triggered_at")
    ).sort("triggered_at")
    results = (
        stages.filter((pl.col("name") == "perform_delivery") & pl.col("finished_at").is_not_null())
        .with_columns(pl.col("finished_at").cast(ms).alias("result_at"))
        .sort("result_at")
    )
    matched = results.join_asof(
        triggers,
        left_on="result_at",
        right_on="triggered_at",
        by=["pipeline_id", "name"],
        strategy="backward",
    ).with_columns(
        ((pl.col("result_at") - pl.col("triggered_at")).dt.total_milliseconds() / 1000).alias(
            "latency"
        ),
        pl.col("result_at").dt.date().alias("day"),
    )
    expected = (
        matched.group_by("day")
        .agg(pl.len().alias("results_count"), pl.col("latency").sort().alias("values"))
        .with_columns(
            pl.col("values")
            .list.get(
                (pl.col("values").list.len() * 0.9).ceil().clip(lower_bound=1).cast(pl.Int64) - 1
            )
            .alias("p90_latency_seconds")
        )
        .select("day", "results_count", "p90_latency_seconds")
        .sort("day")
    )
    client = open_client(warehouse.clickhouse)
    try:
        mart = query_frame(
            client,
            "SELECT day, results_count, matched_count, p90_latency_seconds"
            " FROM marts.stage_latency WHERE stage_name = 'perform_delivery' ORDER BY day",
        )
        resolved = query_frame(
            client,
            "SELECT countIf(NOT is_resolved) AS unresolved, count() AS n,"
            " countIf(resolved_stage_name = 'perform_delivery' AND event_type = 'result') AS r"
            " FROM dds.fact_events_resolved",
        ).row(0, named=True)
        hourly = query_frame(client, "SELECT sum(events_count) AS n FROM marts.events_hourly")
    finally:
        client.close()
    assert mart.get_column("results_count").to_list() == expected["results_count"].to_list()
    assert mart.get_column("matched_count").to_list() == expected["results_count"].to_list()
    assert mart.get_column("p90_latency_seconds").to_list() == pytest.approx(
        expected["p90_latency_seconds"].to_list()
    )
    assert resolved == {"unresolved": 0, "n": records.height, "r": results.height}
    assert hourly.item() == records.height


def _event_aggregates(chdb_dsn: str) -> dict[str, list[tuple[object, ...]]]:
    client = open_client(chdb_dsn)
    try:
        return {
            table: sorted(
                client.query(f"SELECT * EXCEPT _version FROM {table} FINAL").result_rows,
                key=repr,
            )
            for table in ("dds.hourly_events_mv", "marts.events_hourly", "marts.stage_latency")
        }
    finally:
        client.close()


def test_a_refresh_in_day_ranges_equals_one_recomputation(
    warehouse: Dsns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dwh.dds import build_fact_stages, load_dds
    from dwh.events import _dds_sink

    # Forty days across a month boundary; the stage rows let results resolve (stage_latency).
    history = generate_history(200, days=40, seed=5, end=datetime(2026, 10, 12, tzinfo=UTC))
    live = pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at")
    fact_stages = build_fact_stages(
        history.stage.with_columns(live).lazy(), history.pipeline.with_columns(live).lazy()
    ).collect()
    records = build_events(
        history.stage.lazy(), triggers_topic="trigger-channel", results_topic="result-channel"
    ).collect()
    events = decode_batch(_records(records), topics=TOPICS, max_message_bytes=10_000).events
    events = events.sort("event_timestamp")
    older, newer = events.head(events.height * 2 // 3), events.tail(events.height // 3 + 1)
    sink = DdsEventSink(warehouse.clickhouse)
    try:
        with sink.session() as client:
            load_dds(client, {"fact_stages": fact_stages}, version=1)
            # Small ranges: many of them, some inside a month, one across its end.
            monkeypatch.setattr(_dds_sink, "CHUNK_EVENTS", records.height // 25)
            assert len(_dds_sink._day_ranges(client, None)) == 1  # nothing written yet
        sink.write(older)
        sink.refresh(None)
        sink.write(newer)
        since = newer.get_column("event_timestamp").min()
        assert isinstance(since, datetime)
        with sink.session() as client:
            ranges = _dds_sink._day_ranges(client, since.date())
        assert len(ranges) >= 5
        assert ranges[0][0] == since.date()
        assert ranges[-1][1] is None
        sink.refresh(since)
        chunked = _event_aggregates(warehouse.clickhouse)
        monkeypatch.setattr(_dds_sink, "CHUNK_EVENTS", 10**12)
        sink.refresh(None)
    finally:
        sink.close()
    whole = _event_aggregates(warehouse.clickhouse)
    assert chunked == whole
    assert sum(row[-1] for row in whole["dds.hourly_events_mv"]) == records.height
    assert {row[0].month for row in whole["marts.stage_latency"]} == {9, 10}


def test_a_bounded_rebuild_recomputes_its_days_and_keeps_the_rest(warehouse: Dsns) -> None:
    from dwh.dds._rebuild import rebuild
    from dwh.dds.hourly import HOURLY_TABLES

    trigger = (
        b'{"pipeline_id": "0b6f1f3e-8a0c-4d52-9a57-3f1d2c4b5a69", "stage_name": "estimate_cost"}'
    )
    # (day, records): two days outside [09-28, 10-02) in the first and the last month of the
    # range, two inside it, one in each month.
    days = {date(2026, 9, 27): 3, date(2026, 9, 29): 4, date(2026, 10, 1): 5, date(2026, 10, 3): 6}
    offsets = iter(range(100))

    def written(day: date, count: int) -> list[RawRecord]:
        millis = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1000)
        return [
            RawRecord("trigger-channel", 0, next(offsets), millis + i, trigger)
            for i in range(count)
        ]

    def per_day(client: Client) -> dict[date, int]:
        rows = client.query(
            "SELECT toDate(hour), sum(events_count) FROM dds.hourly_events_mv FINAL GROUP BY 1"
        ).result_rows
        return {row[0]: int(row[1]) for row in rows}

    first = [record for day, count in days.items() for record in written(day, count)]
    second = [record for day, count in days.items() for record in written(day, 10)]
    sink = DdsEventSink(warehouse.clickhouse)
    try:
        sink.write(decode_batch(first, topics=TOPICS, max_message_bytes=1_000).events)
        sink.refresh(None)
        sink.write(decode_batch(second, topics=TOPICS, max_message_bytes=1_000).events)
        with sink.session() as client:
            rebuild(
                client,
                "dds.hourly_events_mv",
                HOURLY_TABLES["dds.hourly_events_mv"],
                time_column="hour",
                since=date(2026, 9, 28),
                until=date(2026, 10, 2),
            )
            after = per_day(client)
    finally:
        sink.close()
    assert after == {
        date(2026, 9, 27): 3,
        date(2026, 9, 29): 14,
        date(2026, 10, 1): 15,
        date(2026, 10, 3): 6,
    }
