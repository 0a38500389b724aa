"""``dwh simulate --kafka``: the published records agree with the simulated source rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from dwh.simulate import generate_history, history_events

END = datetime(2026, 10, 20, tzinfo=UTC)


def test_records_match_the_stage_rows() -> None:
    history = generate_history(400, days=2, seed=3, end=END)
    records = history_events(400, days=2, seed=3, end=END, triggers_topic="t", results_topic="r")
    triggers = records.filter(pl.col("topic") == "t")
    results = records.filter(pl.col("topic") == "r")
    stage = history.stage

    # One trigger per stage row (re-delivered duplicates included), at its created_at.
    decoded = [json.loads(v) for v in triggers["value"]]
    got = sorted(
        zip(
            [d["pipeline_id"] for d in decoded],
            [d["stage_name"] for d in decoded],
            triggers["timestamp"],
            strict=True,
        )
    )
    want = sorted(zip(stage["pipeline_id"], stage["name"], stage["created_at"], strict=True))
    assert got == want
    assert set(stage["pipeline_id"]) <= set(history.pipeline["id"])

    # One result per finished perform_delivery row, for that row's id, at its finished_at.
    finished = stage.filter(
        (pl.col("name") == "perform_delivery") & pl.col("finished_at").is_not_null()
    )
    decoded = [json.loads(v) for v in results["value"]]
    got_results = sorted(
        (d["stage_id"], d["status"], d["message"], ts)
        for d, ts in zip(decoded, results["timestamp"], strict=True)
    )
    want_results = sorted(
        zip(
            finished["id"],
            finished["status"],
            finished["message"],
            finished["finished_at"],
            strict=True,
        )
    )
    assert got_results == want_results
    assert results.height > 0
    assert records["timestamp"].is_sorted()
    assert records["timestamp"].max() <= END
