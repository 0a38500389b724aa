"""ODS stages: one row per stage row of the source, keyed by ``id``.

Several rows with the same ``(pipeline_id, name)`` are valid source data (a restarted consumer
re-delivers triggers); they have distinct ids and are all kept.
"""

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.ods._cleaning import (
    LIFECYCLE_CHECKS,
    STAGE_NAMES,
    STATUSES,
    TIMESTAMP,
    UUID_PATTERN,
    Cleaned,
    TableRules,
    clean,
)


class StagesSchema(dy.Schema):
    """Cleaned stages: one row per stage row (not per ``(pipeline_id, name)``)."""

    id = dy.String(primary_key=True, regex=UUID_PATTERN)
    pipeline_id = dy.String(nullable=False, regex=UUID_PATTERN)
    name = dy.String(nullable=False, check=lambda c: c.is_in(STAGE_NAMES))
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
    table="stages",
    key="id",
    dtypes={
        "id": pl.String(),
        "pipeline_id": pl.String(),
        "name": pl.String(),
        "status": pl.String(),
        "message": pl.String(),
        "created_at": TIMESTAMP,
        "started_at": TIMESTAMP,
        "finished_at": TIMESTAMP,
    },
    required=("id", "pipeline_id", "name", "status", "created_at"),
    uuid_columns=("id", "pipeline_id"),
    checks={
        "name not in stage names": ~pl.col("name").is_in(STAGE_NAMES),
        "status not in allowed values": ~pl.col("status").is_in(STATUSES),
        **LIFECYCLE_CHECKS,
    },
    parent="pipeline_id",
)


def clean_stages(raw: pl.LazyFrame, known_pipeline_ids: pl.LazyFrame) -> Cleaned:
    """Clean raw ``stage`` rows; rows whose ``pipeline_id`` is not in ``known_pipeline_ids.id``
    are held back for a later run.

    Quarantined: null or malformed ids, an unknown stage name or status, ``started_at`` before
    ``created_at``, ``finished_at`` before ``started_at``.
    """
    return clean(raw, RULES, known_parent_ids=known_pipeline_ids)
