"""``dds.dim_performers``: one row per performer the ODS has seen.

The source has no performer table; ``ods.performers`` is derived from the deliveries and keeps
performers whose assignment was later overwritten by a re-run. ``first_seen_at`` and
``last_seen_at`` come from it. The counts are recomputed here from the current deliveries so
that they reconcile with ``fact_deliveries``:

- ``deliveries_count``: delivery attempts whose ``performer_id`` is this performer;
- ``completed_count``: those with ``released_at IS NOT NULL``.

A performer that lost every assignment to re-runs keeps its row with zero counts.
"""

# dataframely passes the schema class to @dy.rule() functions, named `cls` as in its docs.

from __future__ import annotations

from collections.abc import Sequence

import dataframely as dy
import polars as pl

from dwh.dds._columns import utc_column, uuid_column


class DimPerformersSchema(dy.Schema):
    """Output of :func:`build_dim_performers`; mirrors ``schemas/dds/*_dim_performers.sql``."""

    performer_id = uuid_column(primary_key=True)
    first_seen_at = utc_column()
    last_seen_at = utc_column()
    deliveries_count = dy.UInt32()
    completed_count = dy.UInt32()

    @dy.rule()
    def completed_within_deliveries(cls) -> pl.Expr:
        """A performer cannot complete more deliveries than it was assigned."""
        return pl.col("completed_count") <= pl.col("deliveries_count")

    @dy.rule()
    def seen_in_order(cls) -> pl.Expr:
        """First seen no later than last seen."""
        return pl.col("first_seen_at") <= pl.col("last_seen_at")


def performer_counts(deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """Per performer of ``deliveries`` (``performer_id``, ``released_at``): ``deliveries_count``
    and ``completed_count`` (UInt32)."""
    return (
        deliveries.filter(pl.col("performer_id").is_not_null())
        .group_by("performer_id")
        .agg(
            deliveries_count=pl.len().cast(pl.UInt32),
            completed_count=pl.col("released_at").is_not_null().sum().cast(pl.UInt32),
        )
    )


def build_dim_performers(performers: pl.LazyFrame, deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """Build ``dim_performers`` from the ODS ``performers`` and ``deliveries`` frames."""
    return dim_performers_from_counts(performers, performer_counts(deliveries))


def dim_performers_from_counts(performers: pl.LazyFrame, counts: pl.LazyFrame) -> pl.LazyFrame:
    """Build ``dim_performers`` from the ODS ``performers`` and their :func:`performer_counts`
    (computed elsewhere, e.g. by the ODS server over all their deliveries)."""
    seen = performers.select("performer_id", "first_seen_at", "last_seen_at")
    return seen.join(counts, on="performer_id", how="left").select(
        "performer_id",
        "first_seen_at",
        "last_seen_at",
        pl.col("deliveries_count").fill_null(0),
        pl.col("completed_count").fill_null(0),
    )


def merge_dim_performers(parts: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """One ``dim_performers`` from several built over disjoint sets of deliveries, each with
    the performers derived from exactly those deliveries (a first load in slices): equal to
    building it from their union (no parts: no performers)."""
    if not parts:
        return DimPerformersSchema.create_empty().lazy()
    return (
        pl.concat(parts)
        .group_by("performer_id")
        .agg(
            pl.col("first_seen_at").min(),
            pl.col("last_seen_at").max(),
            pl.col("deliveries_count").sum().cast(pl.UInt32),
            pl.col("completed_count").sum().cast(pl.UInt32),
        )
        .sort("performer_id")
    )
