"""Polars recomputations of every mart from the DDS frames (the tests' independent oracle)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

Frames = Mapping[str, pl.DataFrame]


def percentile_disc(values: list[float] | None, fraction: float) -> float | None:
    """PostgreSQL ``percentile_disc``: the value at 1-based position max(1, ceil(p·n))."""
    ordered = sorted(v for v in values or [] if v is not None)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _percentile(column: str, fraction: float) -> pl.Expr:
    return pl.col(column).map_elements(
        lambda values: percentile_disc(values.to_list(), fraction), return_dtype=pl.Float64
    )


def performer_efficiency(dds: Frames) -> pl.DataFrame:
    return (
        dds["fact_deliveries"]
        .filter(pl.col("performer_id").is_not_null())
        .group_by("performer_id")
        .agg(
            deliveries_count=pl.len(),
            completed_count=pl.col("is_completed").sum(),
            avg_cost=pl.col("cost").cast(pl.Float64).mean(),
            avg_delivery_seconds=pl.col("delivery_seconds").mean(),
            durations=pl.col("delivery_seconds").drop_nulls(),
        )
        .with_columns(
            p50_delivery_seconds=_percentile("durations", 0.5),
            p90_delivery_seconds=_percentile("durations", 0.9),
        )
        .drop("durations")
    )


def popular_routes(dds: Frames) -> pl.DataFrame:
    return (
        dds["fact_orders"]
        .group_by("source_address_id", "target_address_id")
        .agg(
            orders_count=pl.len(),
            first_registered_at=pl.col("registered_at").min(),
            last_registered_at=pl.col("registered_at").max(),
        )
        .with_columns(route_rank=pl.col("orders_count").rank("min", descending=True))
    )


def order_funnel_daily(dds: Frames) -> pl.DataFrame:
    reached = (
        dds["fact_deliveries"]
        .group_by("order_id")
        .agg(
            has_started=pl.col("started_at").is_not_null().any(),
            has_estimate=pl.col("estimated_at").is_not_null().any(),
            has_performer=pl.col("assigned_at").is_not_null().any(),
        )
    )
    return (
        dds["fact_orders"]
        .join(reached, on="order_id", how="left")
        .group_by(day=pl.col("registered_at").dt.date())
        .agg(
            registered_count=pl.len(),
            started_count=pl.col("has_started").fill_null(False).sum(),
            estimated_count=pl.col("has_estimate").fill_null(False).sum(),
            assigned_count=pl.col("has_performer").fill_null(False).sum(),
            delivered_count=pl.col("is_delivered").sum(),
            canceled_count=(pl.col("last_status") == "canceled").fill_null(False).sum(),
            failed_count=(pl.col("last_status") == "failed").fill_null(False).sum(),
        )
        .with_columns(conversion=pl.col("delivered_count") / pl.col("registered_count"))
    )


def delivery_sla_daily(dds: Frames, target: int) -> pl.DataFrame:
    seconds = pl.col("delivery_seconds")
    return (
        dds["fact_deliveries"]
        .filter(seconds.is_not_null() & pl.col("released_at").is_not_null())
        .group_by(day=pl.col("released_at").dt.date())
        .agg(
            deliveries_count=pl.len(),
            durations=seconds,
            within_target_count=(seconds <= target).sum(),
            over_target_count=(seconds > target).sum(),
            mean_over_target_seconds=(seconds - target).filter(seconds > target).mean(),
        )
        .with_columns(
            sla_target_seconds=pl.lit(target),
            p50_delivery_seconds=_percentile("durations", 0.5),
            p90_delivery_seconds=_percentile("durations", 0.9),
            p99_delivery_seconds=_percentile("durations", 0.99),
            share_within_target=pl.col("within_target_count") / pl.col("deliveries_count"),
        )
        .drop("durations")
    )


def revenue_daily(dds: Frames) -> pl.DataFrame:
    return (
        dds["fact_deliveries"]
        .group_by(day=pl.col("created_at").dt.date(), order_class=pl.col("order_class"))
        .agg(
            deliveries_count=pl.len(),
            priced_count=pl.col("cost").count(),
            completed_count=pl.col("is_completed").sum(),
            revenue=pl.col("cost").filter(pl.col("is_completed")).sum(),
            avg_cost=pl.col("cost").cast(pl.Float64).mean(),
        )
    )


def address_activity_daily(dds: Frames) -> pl.DataFrame:
    orders = dds["fact_orders"].with_columns(day=pl.col("registered_at").dt.date())
    per_role = []
    for role in ("source", "target"):
        address = f"{role}_address_id"
        sightings = orders.select("day", address).unique()
        firsts = sightings.group_by(address).agg(first_day=pl.col("day").min())
        per_role.append(
            sightings.join(firsts, on=address)
            .group_by("day")
            .agg(
                pl.len().alias(f"active_{role}_addresses"),
                (pl.col("first_day") < pl.col("day")).sum().alias(f"repeat_{role}_addresses"),
            )
            .with_columns(
                (pl.col(f"active_{role}_addresses") - pl.col(f"repeat_{role}_addresses")).alias(
                    f"new_{role}_addresses"
                )
            )
        )
    return per_role[0].join(per_role[1], on="day")


def failure_reasons(dds: Frames) -> pl.DataFrame:
    failures = dds["fact_stages"].filter(
        pl.col("is_latest") & pl.col("status").is_in(["failed", "canceled"])
    )
    return (
        failures.group_by(
            stage_name=pl.col("name"), status=pl.col("status"), message=pl.col("message")
        )
        .agg(failures_count=pl.len())
        .with_columns(share=pl.col("failures_count") / failures.height)
    )


def all_marts(dds: Frames, target: int) -> dict[str, tuple[pl.DataFrame, list[str]]]:
    """Each mart's expected rows and its grain."""
    return {
        "performer_efficiency": (performer_efficiency(dds), ["performer_id"]),
        "popular_routes": (popular_routes(dds), ["source_address_id", "target_address_id"]),
        "order_funnel_daily": (order_funnel_daily(dds), ["day"]),
        "delivery_sla_daily": (delivery_sla_daily(dds, target), ["day"]),
        "revenue_daily": (revenue_daily(dds), ["day", "order_class"]),
        "address_activity_daily": (address_activity_daily(dds), ["day"]),
        "failure_reasons": (failure_reasons(dds), ["stage_name", "status", "message"]),
    }
