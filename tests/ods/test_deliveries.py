"""Cleanup of ``delivery`` rows: properties on generated frames, cost rounding, the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from math import isfinite

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dwh.ods import DeliveriesSchema, clean_deliveries

from .properties import check_cleaning
from .strategies import frame, raw_children

PIPELINE = "0b0e5f6a-7d1c-4a57-9f8e-2f1d3c4b5a69"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def rounded(cost: float) -> Decimal:
    """The documented rounding: half away from zero of ``cost * 100`` (in float64)."""
    return Decimal(cost * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP).scaleb(-2)


@settings(max_examples=80, deadline=None)
@given(case=raw_children("deliveries"))
def test_cleaning_properties(case: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    raw, known = case
    out = check_cleaning(
        raw,
        clean_deliveries,
        DeliveriesSchema,
        table="deliveries",
        key="pipeline_id",
        known=known,
        parent="pipeline_id",
    )
    # Every kept cost is a 2-place Decimal equal to the rounding of one raw cost of that key.
    raw_costs = raw.group_by(pl.col("pipeline_id").str.to_lowercase()).agg("cost")
    candidates = dict(raw_costs.iter_rows())
    for key, cost in out.valid.select("pipeline_id", "cost").iter_rows():
        if cost is None:
            assert None in candidates[key]
        else:
            assert cost.as_tuple().exponent == -2
            assert cost in {rounded(c) for c in candidates[key] if c is not None and isfinite(c)}


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(min_value=0, max_value=10**12 - 1))
def test_source_costs_convert_exactly(cents: int) -> None:
    # The source stores round(x, 2) as float8: the nearest double to a cent amount.
    raw = frame("deliveries", [_delivery(cost=cents / 100)])
    out = clean_deliveries(raw.lazy(), pl.LazyFrame({"id": [PIPELINE]})).collect()
    assert out.valid["cost"].to_list() == [Decimal(cents).scaleb(-2)]


def _delivery(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "pipeline_id": PIPELINE,
        "cost": 1234.56,
        "estimated_at": T0,
        "performer_id": None,
        "assigned_at": None,
        "released_at": None,
    }
    return row | changes


def test_cost_rules() -> None:
    cases = {
        2.675: None,
        -0.01: "cost is negative",
        float("inf"): "cost is not finite",
        1e10: "cost out of range for numeric(12,2)",
    }
    for cost, reason in cases.items():
        out = clean_deliveries(
            frame("deliveries", [_delivery(cost=cost)]).lazy(), pl.LazyFrame({"id": [PIPELINE]})
        ).collect()
        assert out.quarantined["reason"].to_list() == ([reason] if reason else [])
    ok = clean_deliveries(
        frame("deliveries", [_delivery(cost=2.675)]).lazy(), pl.LazyFrame({"id": [PIPELINE]})
    ).collect()
    assert ok.valid["cost"].to_list() == [Decimal("2.68")]


def test_release_before_assignment_and_bad_performer_are_quarantined() -> None:
    raw = frame(
        "deliveries",
        [
            _delivery(assigned_at=T0, released_at=T0 - timedelta(seconds=1)),
            _delivery(pipeline_id=PIPELINE.replace("0b", "1b"), performer_id="someone"),
        ],
    )
    out = clean_deliveries(raw.lazy(), pl.LazyFrame({"id": [PIPELINE]})).collect()
    assert out.quarantined["reason"].to_list() == [
        "released_at before assigned_at",
        "performer_id is not a uuid",
    ]
