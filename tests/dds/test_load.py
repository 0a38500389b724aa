"""Loading into chDB and the hourly tables: idempotent reloads, exact recomputation."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import dataframely as dy
import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from dds import oracle
from dds.ods_history import simulate_history
from dds.warehouse import assert_same, build, query_frame, read_table
from dwh.dds import (
    FactEventsSchema,
    affected_since,
    apply_migrations,
    load_dds,
    refresh_hourly,
)

HOURLY_KEYS = {
    "dds.hourly_orders_mv": ["hour"],
    "dds.hourly_deliveries_mv": ["hour", "performer_id"],
}


@pytest.fixture
def warehouse(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


def _ods(seed: int = 7, n_orders: int = 120) -> dict[str, pl.DataFrame]:
    return simulate_history(random.Random(seed), n_orders=n_orders, end=datetime.now(UTC))


def _assert_hourly_exact(client: Client, dds: dict[str, pl.DataFrame]) -> None:
    assert_same(read_table(client, "dds.hourly_orders_mv"), oracle.hourly_orders(dds), ["hour"])
    assert_same(
        read_table(client, "dds.hourly_deliveries_mv"),
        oracle.hourly_deliveries(dds),
        ["hour", "performer_id"],
    )
    assert read_table(client, "dds.hourly_events_mv").height == 0


def _plain_count(client: Client, table: str) -> int:
    # final = 0: what a client without the warehouse's settings would count.
    return int(client.query(f"SELECT count() FROM {table} SETTINGS final = 0").result_rows[0][0])


def test_reload_twice_keeps_facts_and_hourly_exact(warehouse: Client) -> None:
    dds = build(_ods())
    assert load_dds(warehouse, dds, version=1) == {
        name: frame.height for name, frame in dds.items()
    }
    refresh_hourly(warehouse)
    first = {table: read_table(warehouse, table) for table in HOURLY_KEYS}

    load_dds(warehouse, dds, version=2)
    refresh_hourly(warehouse)
    for table, keys in HOURLY_KEYS.items():
        assert_same(read_table(warehouse, table), first[table], keys)
        # One version per key even without FINAL: partitions are swapped, not appended to.
        assert _plain_count(warehouse, table) == first[table].height
    _assert_hourly_exact(warehouse, dds)
    for name, frame in dds.items():
        assert warehouse.query(f"SELECT count() FROM dds.{name}").result_rows[0][0] == frame.height
        assert _plain_count(warehouse, f"dds.{name}") in (frame.height, 2 * frame.height)


def test_loaded_facts_read_back_unchanged(warehouse: Client) -> None:
    dds = build(_ods(n_orders=40))
    load_dds(warehouse, dds, version=1, batch_rows=7)  # many small batches
    for name, frame in dds.items():
        stored = read_table(warehouse, f"dds.{name}")
        key = frame.columns[0]
        assert_same(stored, frame, [key])


def test_changed_facts_leave_no_stale_hour_behind(warehouse: Client) -> None:
    ods = _ods(seed=11)
    before = build(ods)
    load_dds(warehouse, before, version=1)
    refresh_hourly(warehouse)

    # A re-run hands every delivery of one performer to another: that performer's
    # (hour, performer) groups must disappear, not linger with their old counts.
    deliveries = ods["deliveries"]
    moved, kept = deliveries["performer_id"].drop_nulls().unique().sort().to_list()[:2]
    changed_ids = deliveries.filter(pl.col("performer_id") == moved)["pipeline_id"]
    ods = ods | {
        "deliveries": deliveries.with_columns(
            performer_id=pl.when(pl.col("performer_id") == moved)
            .then(pl.lit(kept))
            .otherwise(pl.col("performer_id"))
        )
    }
    after = build(ods)
    load_dds(warehouse, after, version=2)
    changed = after["fact_deliveries"].filter(pl.col("pipeline_id").is_in(changed_ids.implode()))
    refresh_hourly(warehouse, since=affected_since({"fact_deliveries": changed}))

    _assert_hourly_exact(warehouse, after)
    stale = query_frame(
        warehouse,
        "SELECT count() AS n FROM dds.hourly_deliveries_mv WHERE performer_id = {p:UUID}",
        {"p": moved},
    )
    assert stale["n"][0] == 0


def test_refresh_since_leaves_earlier_days_alone(warehouse: Client) -> None:
    dds = build(_ods())
    load_dds(warehouse, dds, version=1)
    refresh_hourly(warehouse)
    versions = "SELECT hour, _version FROM dds.hourly_orders_mv"
    old = dict(warehouse.query(versions).result_rows)
    # The latest day with an earlier day of the same month before it: the month's partition
    # is replaced, yet its earlier days must come back untouched.
    days = sorted({hour.date() for hour in old})
    since = next(d for d in reversed(days) if any(e < d and e.month == d.month for e in days))
    refresh_hourly(warehouse, since=datetime(since.year, since.month, since.day, tzinfo=UTC))
    new = dict(warehouse.query(versions).result_rows)
    assert new.keys() == old.keys()
    assert {h: v for h, v in new.items() if h.date() < since} == {
        h: v for h, v in old.items() if h.date() < since
    }
    assert all(new[h] > old[h] for h in new if h.date() >= since)
    _assert_hourly_exact(warehouse, dds)


def test_load_refuses_unknown_tables_and_invalid_frames(warehouse: Client) -> None:
    dds = build(_ods(n_orders=5))
    with pytest.raises(ValueError, match="not DDS tables: fact_nope"):
        load_dds(warehouse, {"fact_nope": dds["fact_orders"]}, version=1)
    duplicated = pl.concat([dds["fact_orders"], dds["fact_orders"].head(1)])
    with pytest.raises(dy.exc.ValidationError):
        load_dds(warehouse, {"fact_orders": duplicated}, version=1)
    assert warehouse.query("SELECT count() FROM dds.fact_orders").result_rows[0][0] == 0


def test_affected_since_is_the_earliest_placing_time() -> None:
    dds = build(_ods(n_orders=20))
    firsts = [
        dds["fact_orders"]["registered_at"].min(),
        dds["fact_deliveries"]["created_at"].min(),
        dds["fact_stages"]["created_at"].min(),
    ]
    expected = min(first for first in firsts if isinstance(first, datetime))
    assert affected_since(dds) == expected
    assert affected_since({"dim_configs": dds["dim_configs"]}) is None


def test_hourly_events_follow_fact_events(warehouse: Client) -> None:
    rng = random.Random(1)
    start = datetime(2025, 1, 31, 22, tzinfo=UTC)
    rows = [
        {
            "event_id": str(uuid.UUID(int=i + 1, version=4)),
            "event_type": "trigger" if i % 3 else "result",
            "topic": "trigger-channel" if i % 3 else "result-channel",
            "partition": 0,
            "offset": i,
            "event_timestamp": start + timedelta(minutes=rng.randint(0, 240)),
            "pipeline_id": str(uuid.UUID(int=1000 + i % 5, version=4)) if i % 3 else None,
            "stage_name": "perform_delivery" if i % 3 else None,
            "stage_id": None if i % 3 else str(uuid.UUID(int=2000 + i, version=4)),
            "status": None if i % 3 else "succeeded",
            "message": None,
        }
        for i in range(60)
    ]
    events = FactEventsSchema.validate(pl.DataFrame(rows), cast=True)
    load_dds(warehouse, {"fact_events": events}, version=1)
    load_dds(warehouse, {"fact_events": events}, version=2)  # a replayed batch
    refresh_hourly(warehouse)
    expected = events.group_by(
        hour=pl.col("event_timestamp").dt.truncate("1h"), event_type=pl.col("event_type")
    ).agg(events_count=pl.len())
    assert_same(read_table(warehouse, "dds.hourly_events_mv"), expected, ["hour", "event_type"])
    assert _plain_count(warehouse, "dds.hourly_events_mv") == expected.height
