"""Derivation of performers from deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings

from dwh.ods import PerformersSchema, build_performers, clean_deliveries

from .strategies import raw_children

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@settings(max_examples=40, deadline=None)
@given(case=raw_children("deliveries"))
def test_one_row_per_performer_counting_every_delivery(
    case: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    raw, known = case
    deliveries = clean_deliveries(raw.lazy(), known.lazy()).valid
    performers = build_performers(deliveries).collect()
    PerformersSchema.validate(performers)
    valid = deliveries.collect()
    assert performers["deliveries_count"].sum() == valid["performer_id"].count()
    assert performers.height == valid["performer_id"].drop_nulls().n_unique()


def test_first_and_last_seen_are_min_and_max_assignment() -> None:
    performer = "5c8f0a2e-9b7d-4e61-8a3f-1d2c3b4a5e6f"
    deliveries = pl.LazyFrame(
        {
            "pipeline_id": ["a", "b", "c", "d"],
            "performer_id": [performer, performer, performer, None],
            "assigned_at": [T0, T0 + timedelta(hours=1), None, T0],
        },
        schema_overrides={"assigned_at": pl.Datetime("us", "UTC")},
    )
    assert build_performers(deliveries).collect().rows() == [
        (performer, T0, T0 + timedelta(hours=1), 3)
    ]
