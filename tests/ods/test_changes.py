"""Reading what the DDS must rebuild: ahead of a load it equals what is read after it."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dwh.ods import (
    load_ods,
    ods_changes_ahead,
    ods_watermark,
    read_ods_changes,
    read_performer_changes,
)

from .snapshots import KEYS, snapshot, uid

pytestmark = pytest.mark.integration

# OdsChanges' derived frames besides the ODS tables.
CHANGE_KEYS = KEYS | {"stage_pipelines": "id", "performer_counts": "performer_id"}


def _comparable(frames: dict[str, pl.DataFrame], name: str) -> pl.DataFrame:
    frame = frames[name]
    return frame.drop("_loaded_at", strict=False).sort(CHANGE_KEYS[name])


def _changes() -> dict[str, pl.DataFrame]:
    """A batch touching every table: an order's extra, a pipeline's status, a stage only (its
    order otherwise untouched), a release, a tariff, and a new order with everything under it."""
    before, grown = snapshot(5), snapshot(6)
    new_order = {
        "orders": grown["orders"].filter(pl.col("id") == uid(5)),
        "pipelines": grown["pipelines"].filter(pl.col("order_id") == uid(5)),
        "stages": grown["stages"].filter(pl.col("pipeline_id") == uid(105)),
        "deliveries": grown["deliveries"].filter(pl.col("pipeline_id") == uid(105)),
    }
    changed = {
        "orders": before["orders"].filter(pl.col("id") == uid(0)).with_columns(extra=pl.lit("x")),
        "pipelines": before["pipelines"]
        .filter(pl.col("id") == uid(101))
        .with_columns(status=pl.lit("failed"), message=pl.lit("no performers")),
        "stages": before["stages"]
        .filter(pl.col("id") == uid(206))
        .with_columns(status=pl.lit("failed"), message=pl.lit("no performers")),
        "deliveries": before["deliveries"]
        .filter(pl.col("pipeline_id") == uid(104))
        .with_columns(released_at=pl.col("assigned_at") + timedelta(minutes=5)),
    }
    tariff = before["configs"].with_columns(
        id=pl.lit(uid(991)), fetched_at=pl.col("fetched_at") + timedelta(hours=1)
    )
    batch = {name: pl.concat([changed[name], new_order[name]]) for name in changed}
    return batch | {"configs": tariff}


def test_changes_read_ahead_of_a_load_are_those_read_after_it(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(5), None, full_snapshot=True)
    caught_up = ods_watermark(ods_dsn)
    assert caught_up is not None
    batch = _changes()

    ahead = ods_changes_ahead(ods_dsn, batch).frames
    load_ods(ods_dsn, batch, None, full_snapshot=False)
    after = read_ods_changes(ods_dsn, caught_up)
    assert after.watermark is not None
    assert after.watermark > caught_up

    assert set(ahead) == set(after.frames)
    for name in ("orders", "pipelines", "stages", "stage_pipelines", "deliveries", "configs"):
        assert_frame_equal(_comparable(ahead, name), _comparable(after.frames, name))
    # The stage-only change brings its pipeline, not its order.
    assert ahead["stage_pipelines"]["id"].to_list() == [uid(103)]
    assert uid(3) not in ahead["orders"]["id"].to_list()
    # Stages come only for pipelines with a changed stage: not for the changed order's,
    # the changed pipeline's or the released delivery's pipeline.
    assert sorted(set(ahead["stages"]["pipeline_id"])) == [uid(103), uid(105)]
    # Performers come after the load: their figures span all their deliveries.
    assert ahead["performers"].is_empty()
    assert ahead["performer_counts"].is_empty()
    performers = read_performer_changes(ods_dsn, caught_up, after.watermark)
    for name, frame in performers.items():
        assert not frame.is_empty()
        assert_frame_equal(_comparable(performers, name), _comparable(after.frames, name))


def test_nothing_incoming_reads_nothing(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(2), None, full_snapshot=True)
    empty = {name: frame.clear() for name, frame in snapshot(2).items()}
    ahead = ods_changes_ahead(ods_dsn, empty).frames
    assert all(frame.is_empty() for frame in ahead.values())
