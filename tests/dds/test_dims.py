"""dim_performers and dim_configs: keys, reconciliation with the facts, tariff intervals."""

from __future__ import annotations

from itertools import pairwise

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dds.ods_history import lazy, ods_histories
from dwh.dds import (
    DimConfigsSchema,
    DimPerformersSchema,
    build_dim_configs,
    build_dim_performers,
    merge_dim_performers,
)
from dwh.ods import build_performers


@settings(max_examples=40, deadline=None)
@given(ods=ods_histories())
def test_dim_performers_reconcile_with_deliveries(ods: dict[str, pl.DataFrame]) -> None:
    frames = lazy(ods)
    out = build_dim_performers(frames["performers"], frames["deliveries"]).collect()
    DimPerformersSchema.validate(out)
    assert out.columns == DimPerformersSchema.column_names()
    assert out.height == ods["performers"].height
    assert out["performer_id"].is_unique().all()
    assigned = ods["deliveries"].filter(pl.col("performer_id").is_not_null())
    # Every assigned performer is in the ODS performers, so the counts add up exactly.
    assert out["deliveries_count"].sum() == assigned.height
    assert out["completed_count"].sum() == assigned["released_at"].is_not_null().sum()


@settings(max_examples=40, deadline=None)
@given(ods=ods_histories(), parts=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_dim_performers_of_slices_merge_into_the_whole(
    ods: dict[str, pl.DataFrame], parts: int, seed: int
) -> None:
    # A first load builds the dimension slice by slice, each from its own deliveries.
    deliveries = ods["deliveries"].with_columns(part=pl.int_range(pl.len()).shuffle(seed) % parts)
    built = []
    for part in deliveries.partition_by("part", include_key=False):
        performers = build_performers(part.lazy())
        built.append(build_dim_performers(performers, part.lazy()))
    merged = merge_dim_performers(built).collect()
    whole = deliveries.drop("part").lazy()
    expected = build_dim_performers(build_performers(whole), whole).collect()
    DimPerformersSchema.validate(merged)
    assert_frame_equal(merged, expected, check_row_order=False)


@settings(max_examples=40, deadline=None)
@given(ods=ods_histories())
def test_dim_configs_intervals_chain(ods: dict[str, pl.DataFrame]) -> None:
    out = build_dim_configs(lazy(ods)["configs"]).collect()
    DimConfigsSchema.validate(out)
    assert out.columns == DimConfigsSchema.column_names()
    assert out.height == ods["configs"].height
    assert out["config_id"].is_unique().all()
    rows = sorted(out.iter_rows(named=True), key=lambda r: (r["valid_from"], r["config_id"]))
    for current, following in pairwise(rows):
        assert current["valid_to"] == following["valid_from"]
        assert not current["is_current"]
    assert rows[-1]["valid_to"] is None
    assert rows[-1]["is_current"]
