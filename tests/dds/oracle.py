"""Polars recomputations of the hourly tables and the example queries, from the DDS frames."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

Frames = Mapping[str, pl.DataFrame]


def hourly_orders(dds: Frames) -> pl.DataFrame:
    """``dds.hourly_orders_mv`` recomputed."""
    return (
        dds["fact_orders"]
        .group_by(hour=pl.col("registered_at").dt.truncate("1h"))
        .agg(
            orders_count=pl.len(),
            unique_source_addresses=pl.col("source_address_id").n_unique(),
            unique_target_addresses=pl.col("target_address_id").n_unique(),
        )
    )


def hourly_deliveries(dds: Frames) -> pl.DataFrame:
    """``dds.hourly_deliveries_mv`` recomputed (NULL performer is a group of its own)."""
    return (
        dds["fact_deliveries"]
        .group_by(hour=pl.col("created_at").dt.truncate("1h"), performer_id=pl.col("performer_id"))
        .agg(
            deliveries_count=pl.len(),
            priced_count=pl.col("cost").count(),
            total_cost=pl.col("cost").sum(),
            avg_cost=pl.col("cost").cast(pl.Float64).mean(),
            completed_count=pl.col("is_completed").sum(),
        )
    )


def example_performers(dds: Frames) -> pl.DataFrame:
    """Example query 1; ``dateDiff('second', a, b)`` counts whole-second boundaries."""
    seconds = (
        pl.col("released_at").dt.truncate("1s") - pl.col("assigned_at").dt.truncate("1s")
    ).dt.total_seconds()
    return (
        dds["fact_deliveries"]
        .filter(pl.col("released_at").is_not_null())
        .group_by("performer_id")
        .agg(
            total_deliveries=pl.len(),
            avg_delivery_cost=pl.col("cost").cast(pl.Float64).mean(),
            avg_delivery_time_seconds=seconds.mean(),
        )
    )


def route_counts(dds: Frames) -> pl.DataFrame:
    """Orders per route (example query 2 before its LIMIT)."""
    return (
        dds["fact_orders"]
        .group_by("source_address_id", "target_address_id")
        .agg(route_count=pl.len())
    )


def recent_hours(dds: Frames, now: datetime) -> pl.DataFrame:
    """Example query 3 at ``now``."""
    return hourly_orders(dds).filter(pl.col("hour") >= now - pl.duration(hours=24)).sort("hour")
