"""The Kafka records behind a simulated history: one trigger per stage row, one result per
external outcome.

The platform creates a stage row when it consumes a trigger, so every stage row (re-delivered
duplicates included) has a trigger for its ``(pipeline_id, name)`` stamped with the row's
``created_at``. ``perform_delivery`` ends only when an external result is posted: each such
row that finished has a result for its ``id`` stamped with its ``finished_at``. Other stages
finish inside the platform and post nothing.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from dwh.simulate._history import generate_history

EXTERNAL_STAGE = "perform_delivery"
_FINAL = ("succeeded", "failed", "canceled")


def build_events(stage: pl.LazyFrame, *, triggers_topic: str, results_topic: str) -> pl.LazyFrame:
    """Records (``topic``, ``value`` JSON text, ``timestamp``) for the stage rows of a source
    history (columns as in the source ``stage`` table), in event-time order.

    Ties are broken by topic and stage id, so the same rows always give the same sequence
    (and so the same offsets on a fresh broker).
    """
    triggers = stage.select(
        pl.lit(triggers_topic).alias("topic"),
        pl.struct(pl.col("pipeline_id"), pl.col("name").alias("stage_name"))
        .struct.json_encode()
        .alias("value"),
        pl.col("created_at").alias("timestamp"),
        pl.col("id").alias("_order"),
    )
    results = stage.filter(
        (pl.col("name") == EXTERNAL_STAGE)
        & pl.col("finished_at").is_not_null()
        & pl.col("status").is_in(_FINAL)
    ).select(
        pl.lit(results_topic).alias("topic"),
        pl.struct(pl.col("id").alias("stage_id"), pl.col("status"), pl.col("message"))
        .struct.json_encode()
        .alias("value"),
        pl.col("finished_at").alias("timestamp"),
        pl.col("id").alias("_order"),
    )
    return pl.concat([triggers, results]).sort("timestamp", "topic", "_order").drop("_order")


def history_events(
    orders: int,
    *,
    days: float,
    seed: int,
    end: datetime,
    anomalies: bool = False,
    triggers_topic: str,
    results_topic: str,
) -> pl.DataFrame:
    """The records of the history :func:`dwh.simulate.simulate` writes with the same
    arguments (generation is deterministic given ``end``), in event-time order."""
    history = generate_history(orders, days=days, seed=seed, end=end, anomalies=anomalies)
    return build_events(
        history.stage.lazy(), triggers_topic=triggers_topic, results_topic=results_topic
    ).collect()
