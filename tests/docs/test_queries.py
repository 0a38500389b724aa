"""Every query of docs/QUERIES.md runs on a loaded warehouse; the seed's three are exact."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dwh.engines.clickhouse import query_frame

from .conftest import Loaded

QUERIES_MD = Path(__file__).resolve().parents[2] / "docs" / "QUERIES.md"
_QUERY = re.compile(r"^### (?P<title>.+?)\n.*?```sql\n(?P<sql>.+?)```", re.MULTILINE | re.DOTALL)


def documented_queries(text: str) -> dict[str, str]:
    """Title → SQL of every ``### title`` section's first ```sql block."""
    return {m["title"]: m["sql"].strip() for m in _QUERY.finditer(text)}


QUERIES = documented_queries(QUERIES_MD.read_text(encoding="utf-8"))
SEED = ("1. Performer efficiency", "2. Popular routes", "3. Orders by hour, last 24 hours")


def test_the_document_has_every_query_section() -> None:
    # Guards the parser: a section whose block is not ```sql would silently go untested.
    sections = re.findall(r"^### ", QUERIES_MD.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(QUERIES) == len(sections) >= 10
    assert set(SEED) <= set(QUERIES)


@pytest.mark.parametrize("title", list(QUERIES))
def test_query_runs_and_returns_rows(loaded: Loaded, title: str) -> None:
    # Run exactly as documented, trailing ';' included: that is what a reader pastes.
    result = query_frame(loaded.client, QUERIES[title])
    assert result.height > 0, title


def _sorted(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return frame.sort(by, nulls_last=True)


def test_performer_efficiency_is_right(loaded: Loaded) -> None:
    result = query_frame(loaded.client, QUERIES[SEED[0]])
    times = result["avg_delivery_time_seconds"].to_list()
    assert times == sorted(times)
    # dateDiff('second', a, b) counts whole-second boundaries between a and b.
    seconds = (
        pl.col("released_at").dt.truncate("1s") - pl.col("assigned_at").dt.truncate("1s")
    ).dt.total_seconds()
    expected = (
        loaded.dds["fact_deliveries"]
        .filter(pl.col("released_at").is_not_null())
        .group_by("performer_id")
        .agg(
            total_deliveries=pl.len().cast(pl.UInt64),
            avg_delivery_cost=pl.col("cost").cast(pl.Float64).mean(),
            avg_delivery_time_seconds=seconds.mean(),
        )
    )
    assert_frame_equal(
        _sorted(
            result.with_columns(pl.col("avg_delivery_cost").cast(pl.Float64)), ["performer_id"]
        ),
        _sorted(expected, ["performer_id"]),
        check_dtypes=False,
    )


def test_popular_routes_are_right(loaded: Loaded) -> None:
    result = query_frame(loaded.client, QUERIES[SEED[1]])
    counts = (
        loaded.dds["fact_orders"]
        .group_by("source_address_id", "target_address_id")
        .agg(route_count=pl.len())
    )
    top = counts["route_count"].sort(descending=True).head(10).to_list()
    assert result["route_count"].to_list() == top
    # Ties at the cut may pick any of the tied routes, but each route's count must be right.
    joined = result.join(counts, on=["source_address_id", "target_address_id"], suffix="_oracle")
    assert joined.height == result.height
    assert (joined["route_count"] == joined["route_count_oracle"]).all()


def test_recent_hours_are_right(loaded: Loaded) -> None:
    before = datetime.now(UTC)
    result = query_frame(loaded.client, QUERIES[SEED[2]])
    after = datetime.now(UTC)
    hourly = (
        loaded.dds["fact_orders"]
        .group_by(hour=pl.col("registered_at").dt.truncate("1h"))
        .agg(
            orders_count=pl.len().cast(pl.UInt64),
            unique_source_addresses=pl.col("source_address_id").n_unique().cast(pl.UInt64),
            unique_target_addresses=pl.col("target_address_id").n_unique().cast(pl.UInt64),
        )
        .sort("hour")
    )
    # The server's now() lies between the two clocks; the window starts at one of them.
    candidates = [hourly.filter(pl.col("hour") >= t - timedelta(hours=24)) for t in (before, after)]
    assert result.height > 0
    assert any(
        result.height == c.height
        and result.to_dicts()
        == c.with_columns(pl.col("hour").cast(result["hour"].dtype)).to_dicts()
        for c in candidates
    )
