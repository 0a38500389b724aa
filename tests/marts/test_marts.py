"""Marts: equal to a Polars recomputation after reloads, changes and partial refreshes."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client
from dds.ods_history import simulate_history
from dds.warehouse import assert_same, build, read_table

from dwh.dds import affected_since, apply_migrations, load_dds, refresh_hourly
from dwh.marts import MARTS, refresh_marts
from marts import oracle

TARGET = 3600


@pytest.fixture
def warehouse(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


def _ods(seed: int) -> dict[str, pl.DataFrame]:
    return simulate_history(random.Random(seed), n_orders=150, end=datetime.now(UTC))


def _assert_marts_exact(client: Client, dds: dict[str, pl.DataFrame], target: int = TARGET) -> None:
    for name, (expected, keys) in oracle.all_marts(dds, target).items():
        assert expected.height > 0, name  # the history exercises every mart
        actual = read_table(client, f"marts.{name}")
        try:
            assert_same(actual, expected, keys)
        except AssertionError as error:
            raise AssertionError(f"marts.{name}: {error}") from None


def _plain_count(client: Client, table: str) -> int:
    return int(client.query(f"SELECT count() FROM {table} SETTINGS final = 0").result_rows[0][0])


def test_marts_are_exact_and_stable_across_reloads(warehouse: Client) -> None:
    dds = build(_ods(seed=5))
    load_dds(warehouse, dds, version=1)
    written = refresh_marts(warehouse, sla_target_seconds=TARGET)
    assert set(written) == {mart.name for mart in MARTS}
    _assert_marts_exact(warehouse, dds)
    first = {mart.name: read_table(warehouse, mart.table) for mart in MARTS}

    load_dds(warehouse, dds, version=2)
    refresh_hourly(warehouse)
    refresh_marts(warehouse, sla_target_seconds=TARGET)
    refresh_marts(warehouse, sla_target_seconds=TARGET)
    _assert_marts_exact(warehouse, dds)
    for mart in MARTS:
        again = read_table(warehouse, mart.table)
        assert again.sort(again.columns, nulls_last=True).equals(
            first[mart.name].sort(again.columns, nulls_last=True)
        ), mart.name
        assert _plain_count(warehouse, mart.table) == again.height


def test_marts_follow_changes_with_a_partial_refresh(warehouse: Client) -> None:
    ods = _ods(seed=8)
    load_dds(warehouse, build(ods), version=1)
    refresh_marts(warehouse, sla_target_seconds=TARGET)

    # The external result arrives for every open assigned delivery: they complete now.
    deliveries = ods["deliveries"]
    opened = pl.col("assigned_at").is_not_null() & pl.col("released_at").is_null()
    completed_ids = deliveries.filter(opened)["pipeline_id"]
    assert completed_ids.len() > 0
    release = pl.col("assigned_at") + pl.duration(minutes=90)
    ods = ods | {
        "deliveries": deliveries.with_columns(
            released_at=pl.when(opened).then(release).otherwise(pl.col("released_at"))
        )
    }
    after = build(ods)
    load_dds(warehouse, after, version=2)
    changed = {
        "fact_deliveries": after["fact_deliveries"].filter(
            pl.col("pipeline_id").is_in(completed_ids.implode())
        ),
        "fact_orders": after["fact_orders"].filter(
            pl.col("order_id").is_in(
                after["fact_deliveries"]
                .filter(pl.col("pipeline_id").is_in(completed_ids.implode()))["order_id"]
                .implode()
            )
        ),
    }
    since = affected_since(changed)
    assert since is not None
    refresh_marts(warehouse, sla_target_seconds=TARGET, since=since.date())
    _assert_marts_exact(warehouse, after)


def test_sla_target_is_taken_per_refresh(warehouse: Client) -> None:
    dds = build(_ods(seed=5))
    load_dds(warehouse, dds, version=1)
    refresh_marts(warehouse, sla_target_seconds=600)
    _assert_marts_exact(warehouse, dds, target=600)
    stored = read_table(warehouse, "marts.delivery_sla_daily")
    assert stored["sla_target_seconds"].unique().to_list() == [600]


def test_refresh_marts_rejects_a_bad_target(warehouse: Client) -> None:
    with pytest.raises(ValueError, match="sla_target_seconds"):
        refresh_marts(warehouse, sla_target_seconds=0)


def test_empty_warehouse_gives_empty_marts(warehouse: Client) -> None:
    assert set(refresh_marts(warehouse, sla_target_seconds=TARGET).values()) == {0}
    assert set(refresh_hourly(warehouse).values()) == {0}
