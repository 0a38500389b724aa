"""Column helpers shared by the DDS transforms and their dataframely schemas."""

from __future__ import annotations

from collections.abc import Callable

import dataframely as dy
import polars as pl

#: Lowercase canonical UUID text: how the ODS hands ids over and how ``insert_arrow`` expects
#: them for ClickHouse ``UUID`` columns. The schema-vs-DDL test maps this regex to ``UUID``.
UUID_REGEX = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

STATUSES = ("pending", "in_progress", "succeeded", "failed", "canceled")
FINAL_STATUSES = ("succeeded", "failed", "canceled")
STAGE_NAMES = (
    "start_pipeline",
    "estimate_cost",
    "assign_performer",
    "perform_delivery",
    "release_performer",
)


def uuid_column(*, nullable: bool = False, primary_key: bool = False) -> dy.String:
    """A UUID carried as lowercase text (ClickHouse ``UUID``)."""
    return dy.String(nullable=nullable, primary_key=primary_key, regex=UUID_REGEX)


def utc_column(*, nullable: bool = False, primary_key: bool = False) -> dy.Datetime:
    """A microsecond UTC timestamp (ClickHouse ``DateTime64(6, 'UTC')``)."""
    return dy.Datetime(nullable=nullable, primary_key=primary_key, time_zone="UTC", time_unit="us")


def seconds_column() -> dy.Float64:
    """A duration in seconds: non-negative or NULL (ClickHouse ``Nullable(Float64)``)."""
    return dy.Float64(nullable=True, min=0.0)


def one_of(values: tuple[str, ...]) -> Callable[[pl.Expr], pl.Expr]:
    """A dataframely column check: the value is one of ``values`` (NULL passes)."""

    def check(column: pl.Expr) -> pl.Expr:
        return column.is_in(list(values)) | column.is_null()

    return check


def seconds_between(start: str, end: str) -> pl.Expr:
    """Seconds from column ``start`` to column ``end``; NULL when either is NULL or end < start.

    A negative interval is not a duration but evidence that one end was overwritten (a re-run
    of a stage rewrites ``started_at`` and the performer assignment), so it becomes NULL rather
    than a clamped zero that would bias averages and percentiles.
    """
    seconds = (pl.col(end) - pl.col(start)).dt.total_microseconds() / 1_000_000
    return pl.when(seconds >= 0).then(seconds).cast(pl.Float64)


def is_deleted(deleted_at: str = "_deleted_at") -> pl.Expr:
    """True when the ODS marked the row as gone from the source."""
    return pl.col(deleted_at).is_not_null()


def number_within(
    rows: pl.LazyFrame, *, group: list[str], order_by: list[str], name: str, size: str
) -> pl.LazyFrame:
    """``rows`` plus ``name`` (1, 2, … by ``order_by`` within ``group``) and ``size`` (the
    group's row count), both ``UInt32``; row order is not kept.

    Almost every group holds one row (one pipeline per order, one row per stage): those get 1
    directly, and only the rows of larger groups go through the ordered window, which costs
    several times more than counting when run over every row.
    """
    sized = rows.with_columns(pl.len().over(group).cast(pl.UInt32).alias(size))
    ranked = pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over(group, order_by=order_by)
    return pl.concat(
        [
            sized.filter(pl.col(size) == 1).with_columns(pl.lit(1, pl.UInt32).alias(name)),
            sized.filter(pl.col(size) > 1).with_columns(ranked.alias(name)),
        ],
        how="vertical",
    )
