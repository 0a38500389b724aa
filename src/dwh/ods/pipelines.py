"""ODS pipelines: one row per pipeline (delivery attempt of an order), keyed by ``id``."""

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.ods._cleaning import (
    LIFECYCLE_CHECKS,
    STATUSES,
    TIMESTAMP,
    UUID_PATTERN,
    Cleaned,
    TableRules,
    clean,
)


class PipelinesSchema(dy.Schema):
    """Cleaned pipelines: one row per pipeline."""

    id = dy.String(primary_key=True, regex=UUID_PATTERN)
    order_id = dy.String(nullable=False, regex=UUID_PATTERN)
    status = dy.String(nullable=False, check=lambda c: c.is_in(STATUSES))
    message = dy.String(nullable=True)
    created_at = dy.Datetime(nullable=False, time_zone="UTC", time_unit="us")
    started_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")
    finished_at = dy.Datetime(nullable=True, time_zone="UTC", time_unit="us")

    @dy.rule()
    def started_after_created(cls) -> pl.Expr:
        return ~LIFECYCLE_CHECKS["started_at before created_at"]

    @dy.rule()
    def finished_after_started(cls) -> pl.Expr:
        return ~LIFECYCLE_CHECKS["finished_at before started_at"]


RULES = TableRules(
    table="pipelines",
    key="id",
    dtypes={
        "id": pl.String(),
        "order_id": pl.String(),
        "status": pl.String(),
        "message": pl.String(),
        "created_at": TIMESTAMP,
        "started_at": TIMESTAMP,
        "finished_at": TIMESTAMP,
    },
    required=("id", "order_id", "status", "created_at"),
    uuid_columns=("id", "order_id"),
    checks={"status not in allowed values": ~pl.col("status").is_in(STATUSES), **LIFECYCLE_CHECKS},
    parent="order_id",
)


def clean_pipelines(raw: pl.LazyFrame, known_order_ids: pl.LazyFrame) -> Cleaned:
    """Clean raw ``pipeline`` rows; rows whose ``order_id`` is not in ``known_order_ids.id``
    are held back for a later run.

    Quarantined: null or malformed ids, a status outside the five statuses, ``started_at``
    before ``created_at``, ``finished_at`` before ``started_at``.
    """
    return clean(raw, RULES, known_parent_ids=known_order_ids)
