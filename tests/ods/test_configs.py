"""Cleanup of ``config`` rows: properties on generated frames and the tariff rules."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings

from dwh.ods import ConfigsSchema, clean_configs

from .properties import check_cleaning
from .strategies import frame, raw_configs

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(raw=raw_configs())
def test_cleaning_properties(raw: pl.DataFrame) -> None:
    check_cleaning(
        raw,
        lambda lf, _known: clean_configs(lf),
        ConfigsSchema,
        table="configs",
        key="id",
        known=pl.DataFrame({"id": []}, schema={"id": pl.String}),
    )


def test_tariffs_must_be_finite_and_not_negative() -> None:
    rows = [
        {
            "id": f"00000000-0000-4000-8000-00000000000{i}",
            "min_cost": m,
            "rubles_per_meter": r,
            "fetched_at": T0,
        }
        for i, (m, r) in enumerate([(100.0, 0.5), (-1.0, 0.5), (100.0, float("nan"))])
    ]
    out = clean_configs(frame("configs", rows).lazy()).collect()
    assert out.valid["min_cost"].to_list() == [100.0]
    assert out.quarantined["reason"].to_list() == [
        "min_cost is negative",
        "rubles_per_meter is not finite",
    ]
