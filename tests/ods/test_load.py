"""Loading into the ODS: idempotent upserts, soft deletes, quarantine, load state, atomicity."""

from __future__ import annotations

from typing import Any

import dataframely as dy
import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from dwh.ods import LoadCounts, build_performers, load_ods, read_ods
from dwh.ods._cleaning import QUARANTINE_SCHEMA

from .snapshots import KEYS, snapshot, uid

pytestmark = pytest.mark.integration


def _read(dsn: str) -> dict[str, pl.DataFrame]:
    return {name: df.sort(KEYS[name]) for name, df in read_ods(dsn).items()}


def _rows(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def _quarantine(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=QUARANTINE_SCHEMA, orient="row")


def test_first_load_inserts_everything(ods_dsn: str) -> None:
    counts = load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    assert counts["orders"] == LoadCounts(rows=3, inserted=3)
    assert counts["stages"] == LoadCounts(rows=6, inserted=6)  # repeated stages kept
    assert counts["performers"] == LoadCounts(rows=2, inserted=2)
    loaded = _read(ods_dsn)
    assert_frame_equal(
        loaded["deliveries"].drop("_loaded_at", "_deleted_at"),
        snapshot()["deliveries"].sort("pipeline_id"),
    )
    assert loaded["orders"]["_deleted_at"].null_count() == 3


def test_loading_the_same_snapshot_twice_changes_nothing(ods_dsn: str) -> None:
    quarantined = _quarantine(("orders", "x", "id is not a uuid", '{"id": "x"}'))
    load_ods(ods_dsn, snapshot(), quarantined, full_snapshot=True)
    before = _read(ods_dsn)
    counts = load_ods(ods_dsn, snapshot(), quarantined, full_snapshot=True)
    for name in ("configs", "orders", "pipelines", "stages", "deliveries", "performers"):
        assert (counts[name].inserted, counts[name].updated, counts[name].marked_deleted) == (
            0,
            0,
            0,
        )
    after = _read(ods_dsn)
    for name, frame in before.items():
        assert_frame_equal(after[name], frame)  # _loaded_at included


def test_a_changed_row_is_updated_and_restamped(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    before = _read(ods_dsn)["pipelines"]
    changed = snapshot()
    changed["pipelines"] = changed["pipelines"].with_columns(
        pl.when(pl.col("id") == uid(101)).then(pl.lit("failed")).otherwise("status").alias("status")
    )
    counts = load_ods(ods_dsn, changed, None, full_snapshot=True)
    assert counts["pipelines"] == LoadCounts(rows=3, updated=1)
    after = _read(ods_dsn)["pipelines"]
    assert after.filter(pl.col("id") == uid(101))["status"].item() == "failed"
    stamps = before.select("id", old="_loaded_at").join(after.select("id", "_loaded_at"), on="id")
    assert stamps.filter(pl.col("old") != pl.col("_loaded_at"))["id"].to_list() == [uid(101)]


def test_a_vanished_row_is_marked_deleted_kept_and_revived(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    loaded_at = _read(ods_dsn)["orders"]["_loaded_at"].to_list()

    counts = load_ods(ods_dsn, snapshot(orders=2), None, full_snapshot=True)
    assert counts["orders"] == LoadCounts(rows=2, marked_deleted=1)
    assert counts["stages"].marked_deleted == 2
    orders = _read(ods_dsn)["orders"]
    assert orders.height == 3  # nothing is ever deleted
    gone = orders.filter(pl.col("_deleted_at").is_not_null())
    assert gone["id"].to_list() == [uid(2)]
    assert gone["registered_at"].item() is not None  # the content stays as it was

    again = load_ods(ods_dsn, snapshot(orders=2), None, full_snapshot=True)
    assert again["orders"].marked_deleted == 0  # stamped once, not re-stamped

    revived = load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    assert revived["orders"] == LoadCounts(rows=3, updated=1)
    orders = _read(ods_dsn)["orders"]
    assert orders["_deleted_at"].null_count() == 3
    # _loaded_at is the last change the DDS must see: the mark and the revival move it, for
    # the revived row only.
    after = dict(zip(orders["id"], orders["_loaded_at"], strict=True))
    before = dict(zip(_read(ods_dsn)["orders"]["id"], loaded_at, strict=True))
    assert after[uid(2)] > before[uid(2)]
    assert all(after[k] == v for k, v in before.items() if k != uid(2))


def test_an_incremental_load_marks_nothing_deleted(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    counts = load_ods(ods_dsn, snapshot(orders=1), None, full_snapshot=False)
    assert all(c.marked_deleted == 0 for c in counts.values())
    assert _read(ods_dsn)["orders"]["_deleted_at"].null_count() == 3


def test_configs_are_never_marked_deleted(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    replaced = snapshot()
    replaced["configs"] = replaced["configs"].with_columns(
        id=pl.lit(uid(991)), min_cost=pl.lit(200.0)
    )
    counts = load_ods(ods_dsn, replaced, None, full_snapshot=True)
    assert counts["configs"] == LoadCounts(rows=1, inserted=1)
    configs = _read(ods_dsn)["configs"]
    assert configs["id"].to_list() == [uid(990), uid(991)]  # the tariff history
    assert configs["_deleted_at"].null_count() == 2


def test_a_quarantined_row_is_not_taken_for_a_deleted_one(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    # Order 2 still exists in the source but is invalid right now.
    quarantined = _quarantine(("orders", uid(2), "registered_at is null", "{}"))
    counts = load_ods(
        ods_dsn,
        {"orders": snapshot(orders=2)["orders"]},
        quarantined,
        full_snapshot=True,
    )
    assert counts["orders"].marked_deleted == 0
    assert _read(ods_dsn)["orders"]["_deleted_at"].null_count() == 3


def test_quarantine_seen_again_only_moves_last_seen(ods_dsn: str) -> None:
    first = _quarantine(
        ("deliveries", uid(7), "cost is negative", '{"cost": -1}'),
        ("deliveries", uid(7), "cost is negative", '{"cost": -1}'),  # same row twice in a batch
    )
    assert load_ods(ods_dsn, {}, first, full_snapshot=False)["quarantine"] == LoadCounts(
        rows=2, inserted=1
    )
    query = "SELECT payload, first_seen_at, last_seen_at FROM ods.quarantine"
    [(payload, first_seen, last_seen)] = _rows(ods_dsn, query)
    assert first_seen == last_seen

    second = _quarantine(("deliveries", uid(7), "cost is negative", '{"cost": -2}'))
    assert load_ods(ods_dsn, {}, second, full_snapshot=False)["quarantine"] == LoadCounts(
        rows=1, updated=1
    )
    [(payload_2, first_seen_2, last_seen_2)] = _rows(ods_dsn, query)
    assert (payload_2, first_seen_2) == (payload, first_seen) == ({"cost": -1}, first_seen)
    assert last_seen_2 > last_seen


def test_load_state_records_each_run_and_cursor(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True, cursors={"orders": "12345"})
    query = (
        "SELECT table_name, cursor, last_run_rows, last_run_status FROM ods.load_state ORDER BY 1"
    )
    assert _rows(ods_dsn, query) == [
        ("configs", None, 1, "succeeded"),
        ("deliveries", None, 3, "succeeded"),
        ("orders", "12345", 3, "succeeded"),
        ("performers", None, 2, "succeeded"),
        ("pipelines", None, 3, "succeeded"),
        ("quarantine", None, 0, "succeeded"),
        ("stages", None, 6, "succeeded"),
    ]
    load_ods(ods_dsn, {"orders": snapshot()["orders"]}, None, full_snapshot=False)
    assert _rows(ods_dsn, "SELECT cursor FROM ods.load_state WHERE table_name = 'orders'") == [
        ("12345",)  # not named this time: kept
    ]
    empty = snapshot()["orders"].clear()
    load_ods(ods_dsn, {"orders": empty}, None, full_snapshot=False, cursors={"orders": None})
    assert _rows(ods_dsn, "SELECT cursor FROM ods.load_state WHERE table_name = 'orders'") == [
        (None,)  # named as None: reset (full-refresh fallback)
    ]


def test_a_failed_load_keeps_nothing_and_says_so(ods_dsn: str) -> None:
    broken = _quarantine(("orders", "x", "id is not a uuid", "not json"))
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        load_ods(ods_dsn, snapshot(), broken, full_snapshot=True, cursors={"orders": "9"})
    assert _read(ods_dsn)["orders"].is_empty()
    assert _rows(ods_dsn, "SELECT DISTINCT last_run_status, cursor FROM ods.load_state") == [
        ("failed", None)
    ]


def test_frames_breaking_their_schema_are_refused(ods_dsn: str) -> None:
    orders = snapshot()["orders"]
    with pytest.raises(ValueError, match="cursors for tables not loaded"):
        load_ods(ods_dsn, {}, None, full_snapshot=False, cursors={"orders": "1"})
    with pytest.raises(dy.exc.ValidationError):
        load_ods(ods_dsn, {"orders": pl.concat([orders, orders])}, None, full_snapshot=False)
    with pytest.raises(ValueError, match="not loadable"):
        load_ods(ods_dsn, {"order": orders}, None, full_snapshot=False)


def test_performers_are_derived_from_all_deliveries(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    # Delivery 100 re-assigned to performer 900's colleague: 900 keeps 1 delivery (102).
    moved = snapshot()
    moved["deliveries"] = moved["deliveries"].with_columns(performer_id=pl.lit(uid(901)))
    load_ods(ods_dsn, moved, None, full_snapshot=True)
    ods = _read(ods_dsn)
    performers = ods["performers"].drop("_loaded_at")
    derived = build_performers(ods["deliveries"].lazy()).collect()
    assert performers.filter(pl.col("deliveries_count") > 0).equals(derived)
    # Performer 900 no longer has deliveries: still listed (it was seen), with count 0.
    assert performers.filter(pl.col("performer_id") == uid(900))["deliveries_count"].item() == 0


def test_incremental_loads_rederive_the_performers_a_change_moves(ods_dsn: str) -> None:
    load_ods(ods_dsn, snapshot(), None, full_snapshot=True)
    deliveries = snapshot()["deliveries"]

    def performers() -> pl.DataFrame:
        return _read(ods_dsn)["performers"]

    def load(changed: pl.DataFrame) -> LoadCounts:
        return load_ods(ods_dsn, {"deliveries": changed}, None, full_snapshot=False)["performers"]

    before = performers()
    # A release changes neither a performer's deliveries nor its assignment times.
    released = deliveries.head(1).with_columns(released_at=pl.col("assigned_at"))
    assert load(released) == LoadCounts(rows=0)
    assert_frame_equal(performers(), before)  # _loaded_at included

    # Re-assigned from 901 to a new performer, and one of 900's assignments moved later.
    reassigned = deliveries.slice(1, 1).with_columns(performer_id=pl.lit(uid(902)))
    moved = deliveries.slice(2, 1).with_columns(
        assigned_at=pl.col("assigned_at") + pl.duration(hours=1)
    )
    # 902 is new, 900's last assignment moved, 901 has no delivery left (kept, count 0).
    assert load(pl.concat([reassigned, moved])) == LoadCounts(rows=2, inserted=1, updated=2)
    ods = _read(ods_dsn)
    derived = build_performers(ods["deliveries"].lazy()).collect()
    kept = ods["performers"].drop("_loaded_at")
    assert kept.filter(pl.col("deliveries_count") > 0).equals(derived)
    assert kept.filter(pl.col("deliveries_count") == 0)["performer_id"].to_list() == [uid(901)]
