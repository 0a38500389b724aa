"""fact_stages: one row per source stage row, duplicates numbered by occurrence."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from hypothesis import given, settings

from dds.ods_history import lazy, ods_histories
from dwh.dds import FactStagesSchema, build_fact_stages


@settings(max_examples=40, deadline=None)
@given(ods=ods_histories())
def test_fact_stages_properties(ods: dict[str, pl.DataFrame]) -> None:
    frames = lazy(ods)
    out = build_fact_stages(frames["stages"], frames["pipelines"]).collect()
    FactStagesSchema.validate(out)
    assert out.columns == FactStagesSchema.column_names()
    assert out.height == ods["stages"].height
    assert out["stage_id"].null_count() == 0
    assert out["stage_id"].is_unique().all()
    assert out["order_id"].null_count() == 0

    groups: dict[tuple[str, str], list[tuple[datetime, str, int, bool]]] = {}
    for row in out.iter_rows(named=True):
        key = (row["pipeline_id"], row["name"])
        groups.setdefault(key, []).append(
            (row["created_at"], row["stage_id"], row["occurrence"], row["is_latest"])
        )
        assert row["duration_seconds"] is None or row["duration_seconds"] >= 0
        assert row["is_deleted_in_source"] == (row["is_deleted_in_source"] is True)
    for rows in groups.values():
        ordered = sorted(rows)
        assert [occurrence for _, _, occurrence, _ in ordered] == list(range(1, len(rows) + 1))
        assert [latest for *_, latest in ordered] == [False] * (len(rows) - 1) + [True]


@settings(max_examples=20, deadline=None)
@given(ods=ods_histories())
def test_one_latest_row_per_pipeline_stage(ods: dict[str, pl.DataFrame]) -> None:
    frames = lazy(ods)
    out = build_fact_stages(frames["stages"], frames["pipelines"]).collect()
    distinct = ods["stages"].select("pipeline_id", "name").unique().height
    assert out.filter("is_latest").height == distinct
