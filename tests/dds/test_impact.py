"""Which derived tables new fact versions change: the columns they read, the rows that differ."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dds.fact_changes import change_facts, hold_back
from dds.ods_history import simulate_history
from dds.warehouse import build
from dwh.dds import apply_migrations, load_dds
from dwh.dds.impact import (
    FACT_KEYS,
    PLACING_COLUMNS,
    Inputs,
    compare_versions,
    merge_plans,
    read_inputs,
)
from dwh.marts.refresh import derived_selects


@pytest.fixture
def warehouse(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


def test_inputs_are_the_columns_each_query_reads(warehouse: Client) -> None:
    inputs = read_inputs(
        warehouse,
        {
            "plain": "SELECT toStartOfHour(registered_at) AS h, count() FROM dds.fact_orders"
            " FINAL GROUP BY h",
            # Only what the subquery selects can reach the outer query.
            "sub": "SELECT count(*) FROM (SELECT stage_id, name FROM dds.fact_stages FINAL)"
            " AS s JOIN dds.fact_orders AS o ON o.order_id = s.stage_id WHERE o.extra = ''",
            "star": "SELECT x.* FROM (SELECT * FROM dds.fact_deliveries) AS x",
            "view": "SELECT count() FROM dds.fact_events_resolved",
        },
    )
    assert inputs["plain"] == {"fact_orders": {"registered_at"}}
    assert inputs["sub"]["fact_stages"] == {"stage_id", "name"}
    assert {"order_id", "extra"} <= inputs["sub"]["fact_orders"]
    assert "pipeline_id" not in inputs["sub"]["fact_orders"]  # not a fact_orders column
    assert {"cost", "released_at", "is_completed"} <= inputs["star"]["fact_deliveries"]
    assert "_version" not in inputs["star"]["fact_deliveries"]
    # A view is expanded: its subqueries name what it reads of each fact.
    assert inputs["view"]["fact_stages"] == {"stage_id", "pipeline_id", "order_id", "name"}
    assert inputs["view"]["fact_deliveries"] == {"pipeline_id", "order_id"}


def test_only_changed_rows_and_tables_whose_inputs_differ(warehouse: Client) -> None:
    ods = simulate_history(random.Random(3), n_orders=80, end=datetime.now(UTC))
    before = build(ods)
    load_dds(warehouse, before, version=1)
    inputs = read_inputs(warehouse, derived_selects())
    orders, deliveries = before["fact_orders"], before["fact_deliveries"]

    # The same rows again: nothing to load, nothing to refresh.
    same = compare_versions(warehouse, {"fact_orders": orders}, inputs)
    assert same.changed["fact_orders"].height == 0
    assert same.plan == {}
    # A column no derived table reads: those rows get new versions, no table is refreshed.
    noted = orders.head(3).with_columns(extra=pl.lit("note"))
    extra = compare_versions(warehouse, {"fact_orders": pl.concat([noted, orders.tail(5)])}, inputs)
    assert sorted(extra.changed["fact_orders"]["order_id"]) == sorted(noted["order_id"])
    assert extra.plan == {}

    # A cost on the newest attempt only: the tables reading cost, from its creation on.
    newest = deliveries.sort("created_at").tail(1)
    repriced = newest.with_columns(cost=pl.col("cost").fill_null(0) + 1)
    impact = compare_versions(warehouse, {"fact_deliveries": repriced}, inputs)
    assert impact.changed["fact_deliveries"].equals(repriced)
    assert set(impact.plan) == {
        "dds.hourly_deliveries_mv",
        "marts.performer_efficiency",
        "marts.revenue_daily",
    }
    assert impact.plan["dds.hourly_deliveries_mv"] == newest["registered_at"].item()

    # A changed attempt brings its order's other attempts: they are numbered together.
    restarted = deliveries.filter(pl.col("attempt") == 2)["order_id"][0]
    attempts = deliveries.filter(pl.col("order_id") == restarted)
    retold = attempts.with_columns(
        message=pl.when(pl.col("attempt") == 1).then(pl.lit("retold")).otherwise("message")
    )
    others = deliveries.filter(pl.col("order_id") != restarted)
    grouped = compare_versions(warehouse, {"fact_deliveries": pl.concat([retold, others])}, inputs)
    assert sorted(grouped.changed["fact_deliveries"]["pipeline_id"]) == sorted(
        attempts["pipeline_id"]
    )

    # A new order is a change of every table reading fact_orders.
    ods_more = simulate_history(random.Random(4), n_orders=5, end=datetime.now(UTC))
    new_orders = build(ods_more)["fact_orders"]
    impact = compare_versions(warehouse, {"fact_orders": new_orders}, inputs)
    assert impact.changed["fact_orders"].height == new_orders.height
    readers = {table for table, reads in inputs.items() if "fact_orders" in reads}
    assert set(impact.plan) == readers
    assert impact.plan["marts.popular_routes"] == new_orders["registered_at"].min()

    # Dimensions have no derived readers: loaded whole, nothing planned.
    dims = compare_versions(warehouse, {"dim_configs": before["dim_configs"]}, inputs)
    assert dims.changed["dim_configs"].equals(before["dim_configs"])
    assert dims.plan == {}


def test_plans_merge_to_the_earliest_time() -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    merged = merge_plans({"a": late, "b": early, "c": None}, {"a": early, "b": None, "d": late})
    assert merged == {"a": early, "b": None, "c": None, "d": late}


def _reference_impact(
    new: pl.DataFrame, stored: pl.DataFrame, fact: str, inputs: Inputs
) -> tuple[set[str], dict[str, datetime | None]]:
    """What compare_versions must find, the plain way: anti-joins on the columns each derived
    table reads, both ways, against the stored rows with the same keys."""
    key, group = FACT_KEYS[fact], {"fact_stages": "pipeline_id"}.get(fact, "order_id")
    old = stored.filter(pl.col(key).is_in(new.get_column(key).implode()))
    differ = new.join(old, on=new.columns, how="anti", nulls_equal=True)
    changed = new.filter(pl.col(group).is_in(differ.get_column(group).implode()))
    plan: dict[str, datetime | None] = {}
    placing = [c for c in PLACING_COLUMNS if c in new.columns]
    for derived, reads in inputs.items():
        if fact not in reads:
            continue
        on = [key, *sorted(reads[fact] & set(new.columns) - {key})]
        differing = pl.concat(
            [
                new.join(old, on=on, how="anti", nulls_equal=True),
                old.join(new, on=on, how="anti", nulls_equal=True),
            ]
        )
        if differing.height:
            plan[derived] = differing.select(pl.min_horizontal(placing).min()).item()
    return set(changed.get_column(key)), plan


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), share=st.sampled_from([0.02, 0.1, 0.5]))
def test_versions_compare_like_anti_joins_on_each_tables_inputs(
    warehouse: Client, seed: int, share: float
) -> None:
    rng = random.Random(seed)
    for fact in FACT_KEYS:
        warehouse.command(f"TRUNCATE TABLE dds.{fact}")
    dds = build(
        simulate_history(random.Random(7), n_orders=60, end=datetime(2025, 3, 15, tzinfo=UTC))
    )
    stored = hold_back(rng, dds, share=share)
    load_dds(warehouse, stored, version=1)
    # An older version of every row as well: only the newest may be compared with.
    load_dds(warehouse, change_facts(rng, stored, share=0.5), version=0, rules=False)
    new = change_facts(rng, dds, share=share)
    inputs = read_inputs(warehouse, derived_selects())
    for fact, key in FACT_KEYS.items():
        impact = compare_versions(warehouse, {fact: new[fact]}, inputs)
        changed, plan = _reference_impact(new[fact], stored[fact], fact, inputs)
        assert set(impact.changed[fact].get_column(key)) == changed, fact
        assert impact.plan == plan, fact


def test_stored_versions_are_found_in_any_month(warehouse: Client) -> None:
    """The time range that prunes the read of stored versions spans every new row's month."""
    dds = build(
        simulate_history(random.Random(9), n_orders=40, end=datetime(2025, 3, 15, tzinfo=UTC))
    )
    load_dds(warehouse, dds, version=1)
    months = dds["fact_deliveries"]["created_at"].dt.month().unique()
    assert months.len() >= 3
    inputs = read_inputs(warehouse, derived_selects())
    # One row per month, at its first and last moments: all found, so none is new.
    by_month = (
        dds["fact_deliveries"]
        .sort("created_at")
        .group_by(pl.col("created_at").dt.month().alias("month"), maintain_order=True)
    )
    edges = pl.concat([by_month.head(1), by_month.tail(1)]).drop("month").unique("pipeline_id")
    impact = compare_versions(warehouse, {"fact_deliveries": edges}, inputs)
    assert impact.changed["fact_deliveries"].height == 0
    assert impact.plan == {}
