"""The three example queries of DESIGN §3, exactly as written, against the loaded DDS."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from dds import oracle
from dds.ods_history import simulate_history
from dds.warehouse import assert_same, build, query_frame
from dwh.dds import apply_migrations, load_dds, refresh_hourly

QUERY_PERFORMERS = """
SELECT performer_id, count(*) as total_deliveries, avg(cost) as avg_delivery_cost,
       avg(dateDiff('second', assigned_at, released_at)) as avg_delivery_time_seconds
FROM dds.fact_deliveries WHERE released_at IS NOT NULL
GROUP BY performer_id ORDER BY avg_delivery_time_seconds;
"""

QUERY_ROUTES = """
SELECT source_address_id, target_address_id, count(*) as route_count
FROM dds.fact_orders GROUP BY source_address_id, target_address_id
ORDER BY route_count DESC LIMIT 10;
"""

QUERY_RECENT_HOURS = """
SELECT hour, orders_count, unique_source_addresses, unique_target_addresses
FROM dds.hourly_orders_mv WHERE hour >= now() - INTERVAL '24 HOUR' ORDER BY hour;
"""


ROUTE = ["source_address_id", "target_address_id"]


@pytest.fixture
def loaded(clickhouse: Client) -> tuple[Client, dict[str, pl.DataFrame]]:
    """A warehouse loaded twice (two versions of every row) and refreshed."""
    apply_migrations(clickhouse)
    dds = build(simulate_history(random.Random(3), n_orders=150, end=datetime.now(UTC)))
    load_dds(clickhouse, dds, version=1)
    load_dds(clickhouse, dds, version=2)
    refresh_hourly(clickhouse)
    return clickhouse, dds


def _run(client: Client, sql: str) -> pl.DataFrame:
    # The client library wants no trailing ';' (the statement itself is unchanged).
    return query_frame(client, sql.strip().removesuffix(";"))


def test_performers_query(loaded: tuple[Client, dict[str, pl.DataFrame]]) -> None:
    client, dds = loaded
    result = _run(client, QUERY_PERFORMERS)
    assert result.height > 0
    times = result["avg_delivery_time_seconds"].to_list()
    assert times == sorted(times)
    assert_same(result, oracle.example_performers(dds), ["performer_id"])


def test_routes_query(loaded: tuple[Client, dict[str, pl.DataFrame]]) -> None:
    client, dds = loaded
    result = _run(client, QUERY_ROUTES)
    counts = oracle.route_counts(dds)
    top = counts["route_count"].sort(descending=True).head(10).to_list()
    assert result["route_count"].to_list() == top
    # Ties at the cut may pick any of the tied routes, but each count must be right.
    assert_same(
        result,
        counts.join(result.select(ROUTE), on=ROUTE),
        ROUTE,
    )


def test_recent_hours_query(loaded: tuple[Client, dict[str, pl.DataFrame]]) -> None:
    client, dds = loaded
    before = datetime.now(UTC)
    result = _run(client, QUERY_RECENT_HOURS)
    after = datetime.now(UTC)
    assert result.height > 0
    assert result["hour"].to_list() == sorted(result["hour"].to_list())
    # The server's now() lies between the two clocks: the 24-hour window starts in the hour of
    # one of them (they differ only if the query ran across an hour boundary).
    expected = oracle.recent_hours(dds, before)
    if expected.height != result.height:
        expected = oracle.recent_hours(dds, after)
    assert_same(result, expected, ["hour"])
