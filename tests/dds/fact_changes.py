"""Random in-place changes of DDS fact rows, the kinds the platform makes, for property tests.

The changes are made to the fact frames directly (no ODS round trip), so each stays within one
row: a re-assigned performer, a new cost, a delivery released or re-opened, a stage that
failed or succeeded after all, a re-delivered stage that is no longer the latest, a message.
Placing times (``registered_at``, ``created_at``) never change, as in the source.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

import polars as pl

from dds.ods_history import NO_PERFORMERS

Frames = Mapping[str, pl.DataFrame]

_STATUSES = ("pending", "in_progress", "succeeded", "failed", "canceled")
_MESSAGES = (None, NO_PERFORMERS, "changed in place")


def _pick(rng: random.Random, frame: pl.DataFrame, key: str, share: float) -> pl.Series:
    chosen = [k for k in frame.get_column(key).to_list() if rng.random() < share]
    return pl.Series(key, chosen, dtype=pl.String)


def _set(frame: pl.DataFrame, key: str, keys: pl.Series, **values: pl.Expr) -> pl.DataFrame:
    hit = pl.col(key).is_in(keys.implode())
    return frame.with_columns(
        pl.when(hit).then(value).otherwise(pl.col(name)).alias(name)
        for name, value in values.items()
    )


def _change_deliveries(rng: random.Random, frame: pl.DataFrame, share: float) -> pl.DataFrame:
    performers = frame.get_column("performer_id").drop_nulls().unique().sort().to_list()
    kind = rng.choice(("performer", "cost", "release", "reopen"))
    keys = _pick(rng, frame, "pipeline_id", share)
    if kind == "performer":
        other = rng.choice([*performers, None])
        return _set(frame, "pipeline_id", keys, performer_id=pl.lit(other, pl.String))
    if kind == "cost":
        cost = rng.choice([None, Decimal(rng.randint(1, 2_000_000)) / 100])
        return _set(frame, "pipeline_id", keys, cost=pl.lit(cost, pl.Decimal(12, 2)))
    if kind == "release":
        took = timedelta(microseconds=rng.randint(1, 7_200_000_000))
        released = pl.coalesce("assigned_at", "created_at") + took
        return _set(
            frame,
            "pipeline_id",
            keys,
            released_at=released,
            delivery_seconds=pl.lit(took.total_seconds(), pl.Float64),
            is_completed=pl.lit(True),
        )
    return _set(
        frame,
        "pipeline_id",
        keys,
        released_at=pl.lit(None, frame.schema["released_at"]),
        delivery_seconds=pl.lit(None, pl.Float64),
        is_completed=pl.lit(False),
    )


def _change_stages(rng: random.Random, frame: pl.DataFrame, share: float) -> pl.DataFrame:
    kind = rng.choice(("status", "message", "latest"))
    keys = _pick(rng, frame, "stage_id", share)
    if kind == "status":
        status = rng.choice(_STATUSES)
        return _set(frame, "stage_id", keys, status=pl.lit(status, frame.schema["status"]))
    if kind == "message":
        message = rng.choice(_MESSAGES)
        return _set(frame, "stage_id", keys, message=pl.lit(message, pl.String))
    return _set(frame, "stage_id", keys, is_latest=~pl.col("is_latest"))


def _change_orders(rng: random.Random, frame: pl.DataFrame, share: float) -> pl.DataFrame:
    keys = _pick(rng, frame, "order_id", share)
    if rng.random() < 0.5:
        return _set(frame, "order_id", keys, extra=pl.lit("changed in place", pl.String))
    return _set(frame, "order_id", keys, is_delivered=~pl.col("is_delivered"))


def change_facts(rng: random.Random, dds: Frames, *, share: float) -> dict[str, pl.DataFrame]:
    """``dds`` with about ``share`` of the rows of each fact changed in place (one kind of
    change per fact, drawn from ``rng``); the other frames as they are."""
    changed = dict(dds)
    changed["fact_deliveries"] = _change_deliveries(rng, dds["fact_deliveries"], share)
    changed["fact_stages"] = _change_stages(rng, dds["fact_stages"], share)
    changed["fact_orders"] = _change_orders(rng, dds["fact_orders"], share)
    return changed


def hold_back(rng: random.Random, dds: Frames, *, share: float) -> dict[str, pl.DataFrame]:
    """``dds`` without about ``share`` of its orders and their attempts and stages: loaded
    later, they are new rows."""
    held = _pick(rng, dds["fact_orders"], "order_id", share).implode()
    kept = dict(dds)
    for fact in ("fact_orders", "fact_deliveries", "fact_stages"):
        kept[fact] = dds[fact].filter(~pl.col("order_id").is_in(held))
    return kept
