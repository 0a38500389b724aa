"""ODS deliveries: one row per delivery (0..1 per pipeline), keyed by ``pipeline_id``.

``cost`` becomes ``Decimal(12, 2)``. Rounding: half away from zero of ``cost * 100`` computed in
float64 (Polars ``round(2, mode="half_away_from_zero")``) — for the non-negative costs that pass
validation this is half-up. Source costs are already rounded to cents, and every float that
is the nearest double to a cent amount converts to exactly that amount.
"""

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.ods._cleaning import COST, TIMESTAMP, UUID_PATTERN, Cleaned, TableRules, clean, raw_value

COST_LIMIT = 10**10  # numeric(12, 2) holds |cost| < 10^10

_cost_float = raw_value("cost").cast(pl.Float64, strict=False)
_cost_cents = _cost_float.round(2, mode="half_away_from_zero")


class DeliveriesSchema(dy.Schema):
    """Cleaned deliveries: one row per pipeline that has a delivery."""

    pipeline_id = dy.String(primary_key=True, regex=UUID_PATTERN)
    cost = dy.Decimal(12, 2, nullable=True, min=0)
    estimated_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")
    performer_id = dy.String(nullable=True, regex=UUID_PATTERN)
    assigned_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")
    released_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")

    @dy.rule()
    def released_after_assigned(cls) -> pl.Expr:
        return pl.col("released_at") >= pl.col("assigned_at")


RULES = TableRules(
    table="deliveries",
    key="pipeline_id",
    dtypes={
        "pipeline_id": pl.String(),
        "cost": COST,
        "estimated_at": TIMESTAMP,
        "performer_id": pl.String(),
        "assigned_at": TIMESTAMP,
        "released_at": TIMESTAMP,
    },
    required=("pipeline_id",),
    uuid_columns=("pipeline_id", "performer_id"),
    converters={
        # Out-of-range and non-finite values become null here; the checks below name them.
        "cost": pl.when(_cost_cents.abs() < COST_LIMIT).then(_cost_cents.cast(COST, strict=False)),
    },
    checks={
        "cost is not a number": raw_value("cost").is_not_null() & _cost_float.is_null(),
        "cost is not finite": ~_cost_float.is_finite(),
        "cost is negative": _cost_float < 0,
        "cost out of range for numeric(12,2)": _cost_cents.is_finite()
        & (_cost_cents.abs() >= COST_LIMIT),
        "released_at before assigned_at": pl.col("released_at") < pl.col("assigned_at"),
    },
    parent="pipeline_id",
)


def clean_deliveries(raw: pl.LazyFrame, known_pipeline_ids: pl.LazyFrame) -> Cleaned:
    """Clean raw ``delivery`` rows; rows whose ``pipeline_id`` is not in
    ``known_pipeline_ids.id`` are held back for a later run.

    Quarantined: null or malformed ``pipeline_id``, malformed ``performer_id``, a cost that is
    negative, not finite or too large for ``numeric(12,2)``, ``released_at`` before
    ``assigned_at``.
    """
    return clean(raw, RULES, known_parent_ids=known_pipeline_ids)
