"""fact_deliveries: one row per pipeline; attempts, durations, cost bands, completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings

from dds.ods_history import ODS_SCHEMAS, lazy, ods_histories
from dds.warehouse import BANDS
from dwh.dds import FactDeliveriesSchema, build_fact_deliveries, order_class, order_class_names

DURATIONS = ("estimate_seconds", "assign_seconds", "delivery_seconds", "total_seconds")


def _build(ods: dict[str, pl.DataFrame], bands: list[Decimal] = BANDS) -> pl.DataFrame:
    frames = lazy(ods)
    return build_fact_deliveries(
        frames["orders"], frames["pipelines"], frames["deliveries"], order_class_bands=bands
    ).collect()


def _expected_class(cost: Decimal | None) -> str:
    if cost is None:
        return "unpriced"
    for bound, name in zip(BANDS, ("small", "medium", "large"), strict=True):
        if cost <= bound:
            return name
    return "xlarge"


@settings(max_examples=40, deadline=None)
@given(ods=ods_histories())
def test_fact_deliveries_properties(ods: dict[str, pl.DataFrame]) -> None:
    out = _build(ods)
    FactDeliveriesSchema.validate(out)
    assert out.columns == FactDeliveriesSchema.column_names()
    assert out.height == ods["pipelines"].height
    assert out["pipeline_id"].null_count() == 0
    assert out["pipeline_id"].is_unique().all()
    assert out.schema["cost"] == pl.Decimal(12, 2)

    by_order: dict[str, list[tuple[datetime, str, int]]] = {}
    for row in out.iter_rows(named=True):
        by_order.setdefault(row["order_id"], []).append(
            (row["created_at"], row["pipeline_id"], row["attempt"])
        )
        assert row["is_completed"] == (row["released_at"] is not None)
        assert row["order_class"] == _expected_class(row["cost"])
        if row["cost"] is not None:
            assert row["cost"] == row["cost"].quantize(Decimal("0.01"))
        for column in DURATIONS:
            assert row[column] is None or row[column] >= 0
        if row["assigned_at"] and row["released_at"] and row["released_at"] >= row["assigned_at"]:
            exact = (row["released_at"] - row["assigned_at"]) / timedelta(seconds=1)
            assert row["delivery_seconds"] == pytest.approx(exact, abs=1e-6)
    for attempts in by_order.values():
        # Numbered 1..n in (created_at, pipeline_id) order.
        assert [attempt for _, _, attempt in sorted(attempts)] == list(range(1, len(attempts) + 1))


def test_order_class_names_extend_past_xlarge() -> None:
    assert order_class_names([]) == ["small"]
    assert order_class_names(BANDS) == ["small", "medium", "large", "xlarge"]
    assert order_class_names([Decimal(i) for i in range(1, 6)])[-2:] == ["xxlarge", "xxxlarge"]


def test_order_class_bounds_are_inclusive_upper_bounds() -> None:
    costs = pl.DataFrame(
        {"cost": [None, "0.00", "500.00", "500.01", "2000.00", "10000.00", "10000.01"]}
    ).select(pl.col("cost").cast(pl.Decimal(12, 2)))
    classes = costs.select(order_class(pl.col("cost"), BANDS).alias("class"))["class"].to_list()
    assert classes == ["unpriced", "small", "small", "medium", "medium", "large", "xlarge"]


def test_order_class_rejects_unsorted_bands() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        order_class(pl.col("cost"), [Decimal(2000), Decimal(500)])


def test_negative_interval_becomes_null() -> None:
    """A re-run that rewrote assigned_at after the release must not yield a negative duration."""
    at = datetime(2025, 1, 1, tzinfo=UTC)
    order_id, pipeline_id = (
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    )
    address = "00000000-0000-4000-8000-000000000003"
    ods = {
        "orders": pl.DataFrame(
            [[order_id, address, address, None, at, None, at]],
            schema=ODS_SCHEMAS["orders"],
            orient="row",
        ),
        "pipelines": pl.DataFrame(
            [[pipeline_id, order_id, "succeeded", None, at, at, at + timedelta(hours=2), None, at]],
            schema=ODS_SCHEMAS["pipelines"],
            orient="row",
        ),
        "deliveries": pl.DataFrame(
            [
                [
                    pipeline_id,
                    Decimal("123.45"),
                    at + timedelta(minutes=1),
                    address,
                    at + timedelta(hours=1, minutes=30),  # rewritten by a re-run
                    at + timedelta(hours=1),
                    None,
                    at,
                ]
            ],
            schema=ODS_SCHEMAS["deliveries"],
            orient="row",
        ),
    }
    row = _build(ods).row(0, named=True)
    assert row["delivery_seconds"] is None
    assert row["is_completed"] is True
    assert row["estimate_seconds"] == 60.0
    assert row["total_seconds"] == 7200.0
