"""ODS performers: one row per performer id seen in the deliveries (the one derived ODS table).

The source has no performer table; a performer exists for the warehouse once a delivery names
it. ``first_seen_at``/``last_seen_at`` are the min/max ``assigned_at`` of its deliveries.
In ``ods.performers`` a performer whose only deliveries were re-assigned to someone else (a
re-run overwrites the assignment in the source) stays, with ``deliveries_count = 0`` and its
last known first/last seen: the warehouse keeps what it has seen.
"""

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.ods._cleaning import UUID_PATTERN


class PerformersSchema(dy.Schema):
    """One row per performer id."""

    performer_id = dy.String(primary_key=True, regex=UUID_PATTERN)
    first_seen_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")
    last_seen_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")
    deliveries_count = dy.Int64(nullable=False, min=0)

    @dy.rule()
    def first_before_last(cls) -> pl.Expr:
        return pl.col("first_seen_at") <= pl.col("last_seen_at")


def build_performers(deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """Derive performers from cleaned deliveries (``DeliveriesSchema`` columns; extra ignored).

    Counts every delivery row given — pass the whole ``ods.deliveries`` (soft-deleted rows
    included) for the warehouse's view; the loader computes the same in SQL
    (``dwh.ods._load``), and a test holds the two definitions together.
    """
    return (
        deliveries.filter(pl.col("performer_id").is_not_null())
        .group_by("performer_id")
        .agg(
            pl.col("assigned_at").min().alias("first_seen_at"),
            pl.col("assigned_at").max().alias("last_seen_at"),
            pl.len().cast(pl.Int64).alias("deliveries_count"),
        )
        .sort("performer_id")
    )
