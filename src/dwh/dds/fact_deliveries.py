"""``dds.fact_deliveries``: one row per pipeline (delivery attempt), delivery fields joined in.

Definitions:

- ``attempt``: 1, 2, … by ``(created_at, pipeline_id)`` within the order.
- Durations, in seconds (Float64, microsecond precision), NULL when an end is missing or the
  interval would be negative (see :func:`dwh.dds._columns.seconds_between`):
  ``estimate_seconds`` = started → estimated, ``assign_seconds`` = estimated → assigned,
  ``delivery_seconds`` = assigned → released, ``total_seconds`` = created → finished.
- ``is_completed``: ``released_at IS NOT NULL`` (the performer was released after the delivery).
- ``order_class``: the cost band (see :func:`order_class_names`); ``'unpriced'`` while the cost
  is NULL (no estimate yet, or the pipeline ended before ``estimate_cost``).
- A pipeline without a delivery row (still ``pending``, or ended before ``start_pipeline``)
  keeps NULL delivery fields.
"""

# dataframely passes the schema class to @dy.rule() functions, named `cls` as in its docs.

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

import dataframely as dy
import polars as pl

from dwh.dds._columns import (
    STATUSES,
    is_deleted,
    number_within,
    one_of,
    seconds_between,
    seconds_column,
    utc_column,
    uuid_column,
)

UNPRICED = "unpriced"
_BAND_NAMES = ("small", "medium", "large", "xlarge")


def order_class_names(bands: Sequence[Decimal]) -> list[str]:
    """Names of the cost bands cut by the upper bounds ``bands`` (one more name than bounds).

    ``[500, 2000, 10000]`` gives ``small`` (cost ≤ 500), ``medium`` (≤ 2000), ``large``
    (≤ 10000) and ``xlarge`` (above). Further bands continue ``xxlarge``, ``xxxlarge``, …
    Bounds are inclusive upper bounds, so a cost equal to a bound belongs to the lower band.
    """
    count = len(bands) + 1
    return [
        _BAND_NAMES[i] if i < len(_BAND_NAMES) else "x" * (i - 2) + "large" for i in range(count)
    ]


def order_class(cost: pl.Expr, bands: Sequence[Decimal]) -> pl.Expr:
    """The ``order_class`` of ``cost`` for the upper bounds ``bands`` (strictly increasing)."""
    bounds = [Decimal(bound) for bound in bands]
    if any(lower >= upper for lower, upper in pairwise(bounds)):
        raise ValueError(f"order_class_bands must be strictly increasing, got {bounds}")
    names = order_class_names(bounds)
    # Built inside out so the first bound that holds wins: when(≤ b0) … otherwise(when(≤ b1) …).
    band: pl.Expr = pl.lit(names[-1])
    for bound, name in reversed(list(zip(bounds, names, strict=False))):
        band = pl.when(cost <= bound).then(pl.lit(name)).otherwise(band)
    return pl.when(cost.is_null()).then(pl.lit(UNPRICED)).otherwise(band)


class FactDeliveriesSchema(dy.Schema):
    """Output of :func:`build_fact_deliveries`; mirrors ``schemas/dds/*_fact_deliveries.sql``."""

    pipeline_id = uuid_column(primary_key=True)
    order_id = uuid_column()
    attempt = dy.UInt32(min=1)
    source_address_id = uuid_column()
    target_address_id = uuid_column()
    status = dy.String(check=one_of(STATUSES))
    message = dy.String(nullable=True)
    cost = dy.Decimal(12, 2, nullable=True, min=0)
    performer_id = uuid_column(nullable=True)
    registered_at = utc_column()
    created_at = utc_column()
    started_at = utc_column(nullable=True)
    estimated_at = utc_column(nullable=True)
    assigned_at = utc_column(nullable=True)
    released_at = utc_column(nullable=True)
    finished_at = utc_column(nullable=True)
    estimate_seconds = seconds_column()
    assign_seconds = seconds_column()
    delivery_seconds = seconds_column()
    total_seconds = seconds_column()
    is_completed = dy.Bool()
    order_class = dy.String()
    is_deleted_in_source = dy.Bool()

    @dy.rule()
    def completed_iff_released(cls) -> pl.Expr:
        """``is_completed`` is exactly ``released_at IS NOT NULL``."""
        return pl.col("is_completed") == pl.col("released_at").is_not_null()

    @dy.rule()
    def attempts_contiguous(cls) -> pl.Expr:
        """Attempts of an order are 1..n without gaps (they are distinct by the primary key)."""
        return pl.col("attempt").max().over("order_id") == pl.len().over("order_id")

    @dy.rule()
    def attempts_unique(cls) -> pl.Expr:
        """No two pipelines of an order share an attempt number."""
        return pl.len().over("order_id", "attempt") == 1

    @dy.rule()
    def unpriced_iff_no_cost(cls) -> pl.Expr:
        """``order_class`` is ``'unpriced'`` exactly when the cost is NULL."""
        return (pl.col("order_class") == UNPRICED) == pl.col("cost").is_null()


def build_fact_deliveries(
    orders: pl.LazyFrame,
    pipelines: pl.LazyFrame,
    deliveries: pl.LazyFrame,
    *,
    order_class_bands: Sequence[Decimal],
) -> pl.LazyFrame:
    """Build ``fact_deliveries`` from the ODS frames; ``order_class_bands`` are upper bounds."""
    cost_band = order_class(pl.col("cost"), order_class_bands)
    attempts = number_within(
        pipelines.select(
            pl.col("id").alias("pipeline_id"),
            "order_id",
            "status",
            "message",
            "created_at",
            "started_at",
            "finished_at",
            is_deleted_in_source=is_deleted(),
        ),
        group=["order_id"],
        order_by=["created_at", "pipeline_id"],
        name="attempt",
        size="__attempts",
    )
    return (
        attempts.join(
            deliveries.select(
                "pipeline_id",
                pl.col("cost").cast(pl.Decimal(12, 2)),
                "performer_id",
                "estimated_at",
                "assigned_at",
                "released_at",
            ),
            on="pipeline_id",
            how="left",
        )
        .join(
            orders.select(
                pl.col("id").alias("order_id"),
                "source_address_id",
                "target_address_id",
                "registered_at",
            ),
            on="order_id",
            how="left",
        )
        .select(
            "pipeline_id",
            "order_id",
            "attempt",
            "source_address_id",
            "target_address_id",
            "status",
            "message",
            "cost",
            "performer_id",
            "registered_at",
            "created_at",
            "started_at",
            "estimated_at",
            "assigned_at",
            "released_at",
            "finished_at",
            estimate_seconds=seconds_between("started_at", "estimated_at"),
            assign_seconds=seconds_between("estimated_at", "assigned_at"),
            delivery_seconds=seconds_between("assigned_at", "released_at"),
            total_seconds=seconds_between("created_at", "finished_at"),
            is_completed=pl.col("released_at").is_not_null(),
            order_class=cost_band,
            is_deleted_in_source=pl.col("is_deleted_in_source"),
        )
    )
