"""Cleanup of ``stage`` rows: properties on generated frames, repeated stages, the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings

from dwh.ods import StagesSchema, clean_stages
from dwh.ods._cleaning import STAGE_NAMES, STATUSES

from .properties import check_cleaning
from .strategies import frame, raw_children

PIPELINE = "0b0e5f6a-7d1c-4a57-9f8e-2f1d3c4b5a69"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
KNOWN = pl.LazyFrame({"id": [PIPELINE]})


@settings(max_examples=60, deadline=None)
@given(case=raw_children("stages"))
def test_cleaning_properties(case: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    raw, known = case
    out = check_cleaning(
        raw, clean_stages, StagesSchema, table="stages", key="id", known=known, parent="pipeline_id"
    )
    assert set(out.valid["status"]) <= set(STATUSES)  # enum closure
    assert set(out.valid["name"]) <= set(STAGE_NAMES)


def _stage(id_: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": id_,
        "pipeline_id": PIPELINE,
        "name": "perform_delivery",
        "status": "pending",
        "message": None,
        "created_at": T0,
        "started_at": None,
        "finished_at": None,
    }
    return row | changes


def test_repeated_stages_of_one_pipeline_are_all_kept() -> None:
    # A restarted consumer re-delivers triggers: up to five perform_delivery rows per pipeline.
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(5)]
    raw = frame(
        "stages", [_stage(i, created_at=T0 + timedelta(minutes=n)) for n, i in enumerate(ids)]
    )
    out = clean_stages(raw.lazy(), KNOWN).collect()
    assert sorted(out.valid["id"]) == ids
    assert out.quarantined.is_empty()


def test_unknown_name_and_status_are_quarantined() -> None:
    raw = frame(
        "stages",
        [
            _stage("00000000-0000-4000-8000-000000000001", name="teleport"),
            _stage("00000000-0000-4000-8000-000000000002", status="PENDING", name=None),
        ],
    )
    out = clean_stages(raw.lazy(), KNOWN).collect()
    assert out.quarantined["reason"].to_list() == [
        "name not in stage names",
        "name is null; status not in allowed values",
    ]
