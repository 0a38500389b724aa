"""``dds.fact_stages``: one row per stage row of the source, duplicates included.

A restarted Kafka consumer re-delivers triggers, so several rows may share
``(pipeline_id, name)``. They are all kept; ``occurrence`` numbers them 1, 2, … by
``(created_at, stage_id)`` and ``is_latest`` marks the last one. Facts that need one row per
stage filter ``is_latest``.

``duration_seconds`` is started → finished (NULL while running, or if negative).
"""

# dataframely passes the schema class to @dy.rule() functions, named `cls` as in its docs.

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.dds._columns import (
    STAGE_NAMES,
    STATUSES,
    is_deleted,
    number_within,
    one_of,
    seconds_between,
    seconds_column,
    utc_column,
    uuid_column,
)

_SIZE = "__occurrences"


class FactStagesSchema(dy.Schema):
    """Output of :func:`build_fact_stages`; mirrors ``schemas/dds/*_fact_stages.sql``."""

    stage_id = uuid_column(primary_key=True)
    pipeline_id = uuid_column()
    order_id = uuid_column()
    name = dy.String(check=one_of(STAGE_NAMES))
    status = dy.String(check=one_of(STATUSES))
    message = dy.String(nullable=True)
    created_at = utc_column()
    started_at = utc_column(nullable=True)
    finished_at = utc_column(nullable=True)
    duration_seconds = seconds_column()
    occurrence = dy.UInt32(min=1)
    is_latest = dy.Bool()
    is_deleted_in_source = dy.Bool()

    @dy.rule()
    def occurrences_contiguous(cls) -> pl.Expr:
        """Occurrences of a (pipeline, stage name) are 1..n, each once."""
        group = ("pipeline_id", "name")
        return (pl.col("occurrence").max().over(group) == pl.len().over(group)) & (
            pl.len().over(*group, "occurrence") == 1
        )

    @dy.rule()
    def latest_is_last_occurrence(cls) -> pl.Expr:
        """``is_latest`` marks exactly the highest occurrence."""
        return pl.col("is_latest") == (
            pl.col("occurrence") == pl.col("occurrence").max().over("pipeline_id", "name")
        )


def build_fact_stages(stages: pl.LazyFrame, pipelines: pl.LazyFrame) -> pl.LazyFrame:
    """Build ``fact_stages`` from the ODS ``stages`` and ``pipelines`` frames."""
    group = ["pipeline_id", "name"]
    rows = stages.rename({"id": "stage_id"}).join(
        pipelines.select(pl.col("id").alias("pipeline_id"), "order_id"),
        on="pipeline_id",
        how="left",
    )
    return number_within(
        rows, group=group, order_by=["created_at", "stage_id"], name="occurrence", size=_SIZE
    ).select(
        "stage_id",
        "pipeline_id",
        "order_id",
        "name",
        "status",
        "message",
        "created_at",
        "started_at",
        "finished_at",
        duration_seconds=seconds_between("started_at", "finished_at"),
        occurrence=pl.col("occurrence"),
        is_latest=pl.col("occurrence") == pl.col(_SIZE),
        is_deleted_in_source=is_deleted(),
    )
