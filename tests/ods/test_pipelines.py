"""Cleanup of ``pipeline`` rows: properties on generated frames, and the rules one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings

from dwh.ods import PipelinesSchema, clean_pipelines
from dwh.ods._cleaning import STATUSES

from .properties import check_cleaning
from .strategies import frame, raw_children

ORDER = "0b0e5f6a-7d1c-4a57-9f8e-2f1d3c4b5a69"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
KNOWN = pl.LazyFrame({"id": [ORDER]})


@settings(max_examples=60, deadline=None)
@given(case=raw_children("pipelines"))
def test_cleaning_properties(case: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    raw, known = case
    out = check_cleaning(
        raw,
        clean_pipelines,
        PipelinesSchema,
        table="pipelines",
        key="id",
        known=known,
        parent="order_id",
    )
    assert set(out.valid["status"]) <= set(STATUSES)  # enum closure


def _pipeline(id_: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": id_,
        "order_id": ORDER,
        "status": "in_progress",
        "message": None,
        "created_at": T0,
        "started_at": T0 + timedelta(seconds=1),
        "finished_at": None,
    }
    return row | changes


def test_rules() -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(5)]
    raw = frame(
        "pipelines",
        [
            _pipeline(ids[0]),
            _pipeline(ids[1], status="done"),
            _pipeline(ids[2], started_at=T0 - timedelta(seconds=1)),
            _pipeline(ids[3], finished_at=T0),
            _pipeline(ids[4], order_id="9b0e5f6a-7d1c-4a57-9f8e-2f1d3c4b5a69"),
        ],
    )
    out = clean_pipelines(raw.lazy(), KNOWN).collect()
    assert out.valid["id"].to_list() == [ids[0]]
    assert out.quarantined.select("record_key", "reason").rows() == [
        (ids[1], "status not in allowed values"),
        (ids[2], "started_at before created_at"),
        (ids[3], "finished_at before started_at"),
    ]
    assert out.held_back["id"].to_list() == [ids[4]]


def test_invalid_orphan_is_quarantined_not_held_back() -> None:
    raw = frame("pipelines", [_pipeline("x", order_id="9b0e5f6a-7d1c-4a57-9f8e-2f1d3c4b5a69")])
    out = clean_pipelines(raw.lazy(), KNOWN).collect()
    assert out.quarantined["reason"].to_list() == ["id is not a uuid"]
    assert out.held_back.is_empty()
