"""Whole-history marts aggregated from daily parts: refreshing the parts of the affected days
only gives exactly what a whole recomputation gives, whatever changed and wherever."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client
from dds.fact_changes import change_facts, hold_back
from dds.ods_history import simulate_history
from dds.warehouse import assert_same, build, read_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwh.dds import apply_migrations, load_dds
from dwh.dds.impact import compare_versions, read_inputs
from dwh.marts import MARTS, Mart, refresh_marts, refresh_planned
from dwh.marts.refresh import derived_selects
from marts import oracle

TARGET = 3600
WITH_PARTS = [mart for mart in MARTS if mart.parts is not None]
# One history for every example (75 days over three months): the examples vary the changes.
BASE = build(
    simulate_history(random.Random(11), n_orders=120, end=datetime(2025, 3, 15, tzinfo=UTC))
)


@pytest.fixture
def warehouse(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


def _empty(client: Client) -> None:
    for database in ("dds", "marts"):
        tables = client.query(
            "SELECT name FROM system.tables WHERE database = {db:String}"
            " AND engine LIKE '%MergeTree' AND name != 'schema_migrations'",
            parameters={"db": database},
        ).result_rows
        for (name,) in tables:
            client.command(f"TRUNCATE TABLE {database}.{name}")


def _assert_marts_exact(client: Client, dds: dict[str, pl.DataFrame]) -> None:
    for name, (expected, keys) in oracle.all_marts(dds, TARGET).items():
        try:
            assert_same(read_table(client, f"marts.{name}"), expected, keys)
        except AssertionError as error:
            raise AssertionError(f"marts.{name}: {error}") from None


def _assert_parts_whole(client: Client) -> None:
    """Every parts table holds exactly what its SELECT computes over all days now."""
    for mart in WITH_PARTS:
        assert mart.parts is not None
        stored = f"SELECT * EXCEPT _version FROM {mart.parts.table}"
        whole = f"SELECT * FROM ({mart.parts.select})"
        # Array elements in a stable order: a group's values arrive in any order.
        sort = "SELECT * REPLACE (arraySort(durations) AS durations) FROM ({})"
        if "durations" not in mart.parts.select:
            sort = "{}"
        for left, right in ((stored, whole), (whole, stored)):
            extra = client.query(
                f"SELECT count() FROM ({sort.format(left)} EXCEPT {sort.format(right)})",
                parameters={"since": date(1970, 1, 1)},
            ).result_rows[0][0]
            assert extra == 0, f"{mart.parts.table}: {extra} rows differ from a whole rebuild"


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# A seed rather than st.randoms(): every row draws, too many draws to shrink well.
@given(seed=st.integers(0, 2**32 - 1), share=st.sampled_from([0.01, 0.05, 0.3]))
def test_refreshing_the_affected_days_equals_a_whole_recomputation(
    warehouse: Client, seed: int, share: float
) -> None:
    rng = random.Random(seed)
    _empty(warehouse)
    before = hold_back(rng, BASE, share=share)
    load_dds(warehouse, before, version=1)
    refresh_marts(warehouse, sla_target_seconds=TARGET)

    after = change_facts(rng, BASE, share=share)
    facts = {name: after[name] for name in ("fact_orders", "fact_deliveries", "fact_stages")}
    impact = compare_versions(warehouse, facts, read_inputs(warehouse, derived_selects()))
    # Changed one column at a time, rows may break cross-column rules: structure checks only.
    changed = {n: f for n, f in impact.changed.items() if f.height}
    load_dds(warehouse, changed, version=2, rules=False)
    refresh_planned(warehouse, impact.plan, sla_target_seconds=TARGET)

    _assert_marts_exact(warehouse, after)
    _assert_parts_whole(warehouse)


def test_parts_never_built_are_built_from_their_first_month(warehouse: Client) -> None:
    """A new parts table (just migrated) or one whose first build stopped part-way: a refresh
    from the last day still starts where the facts start."""
    load_dds(warehouse, BASE, version=1)
    refresh_marts(warehouse, sla_target_seconds=TARGET)
    performer_parts, failure_parts = (mart.parts for mart in WITH_PARTS)
    assert performer_parts is not None
    assert failure_parts is not None
    warehouse.command(f"TRUNCATE TABLE {performer_parts.table}")
    months = warehouse.query(
        f"SELECT DISTINCT toYYYYMM(day) AS m FROM {failure_parts.table} ORDER BY m"
    ).result_rows
    assert len(months) >= 3
    warehouse.command(f"ALTER TABLE {failure_parts.table} DROP PARTITION {months[1][0]}")

    newest = BASE["fact_stages"]["created_at"].max()
    assert isinstance(newest, datetime)
    refresh_planned(
        warehouse, {mart.table: newest for mart in WITH_PARTS}, sla_target_seconds=TARGET
    )
    _assert_marts_exact(warehouse, BASE)
    _assert_parts_whole(warehouse)


def test_parts_are_replaced_by_day(warehouse: Client) -> None:
    """Days before the refreshed one keep their rows (and their version) as they are."""
    load_dds(warehouse, BASE, version=1)
    refresh_marts(warehouse, sla_target_seconds=TARGET)
    parts = WITH_PARTS[0].parts
    assert parts is not None
    versions = f"SELECT day, max(_version) FROM {parts.table} GROUP BY day ORDER BY day"
    first = dict(warehouse.query(versions).result_rows)
    last_day = max(first)
    refresh_marts(warehouse, sla_target_seconds=TARGET, since=last_day)
    second = dict(warehouse.query(versions).result_rows)
    assert {d: v for d, v in second.items() if d < last_day} == {
        d: v for d, v in first.items() if d < last_day
    }
    assert second[last_day] > first[last_day]
    _assert_marts_exact(warehouse, BASE)


def test_parts_cover_the_fact_they_read(warehouse: Client) -> None:
    """``covers`` names the fact the parts are computed from: its months are the ones checked."""
    for mart in WITH_PARTS:
        assert mart.parts is not None
        reads = read_inputs(warehouse, {mart.parts.table: mart.parts.select})
        assert {f"dds.{fact}" for fact in reads[mart.parts.table]} == {mart.covers}
    with pytest.raises(ValueError, match="parts and covers"):
        Mart(name="broken", select="SELECT 1", parts=WITH_PARTS[0].parts)
