"""Rows that are invalid on their own, injected only on request (for quarantine tests)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from dwh.simulate._history import History

ANOMALY_SHARE = 0.002  # of the candidate rows, at least one per kind when any candidate exists
UNKNOWN_STATUS = "exploded"
UNKNOWN_STAGE = "teleport_parcel"


def inject_anomalies(rng: np.random.Generator, history: History) -> History:
    """Corrupt a small share of rows, one kind of defect per row set.

    - delivery: ``released_at`` before ``assigned_at``; a negative ``cost``;
    - pipeline and stage: a ``status`` outside the platform's five;
    - stage: a ``name`` outside the five stage names.
    """
    delivery = history.delivery
    assigned = delivery["assigned_at"]
    rows = _pick(rng, assigned.is_not_null())
    early = pl.Series(rng.integers(1, 3_600 * 1_000_000, rows.size)).cast(pl.Duration("us"))
    released = delivery["released_at"].scatter(rows, assigned.gather(rows) - early)

    cost = delivery["cost"]
    rows = _pick(rng, cost.is_not_null() & (cost > 0))
    cost = cost.scatter(rows, -cost.gather(rows))
    delivery = delivery.with_columns(released, cost)

    pipeline = history.pipeline
    pipeline = pipeline.with_columns(_set(rng, pipeline["status"], UNKNOWN_STATUS))
    stage = history.stage
    stage = stage.with_columns(
        _set(rng, stage["status"], UNKNOWN_STATUS), _set(rng, stage["name"], UNKNOWN_STAGE)
    )
    return dataclasses.replace(history, pipeline=pipeline, stage=stage, delivery=delivery)


def _pick(rng: np.random.Generator, candidates: pl.Series) -> np.ndarray:
    rows = np.flatnonzero(candidates.fill_null(False).to_numpy())
    if rows.size == 0:
        return rows
    count = max(1, round(ANOMALY_SHARE * rows.size))
    return np.sort(rng.choice(rows, count, replace=False))


def _set(rng: np.random.Generator, column: pl.Series, value: str) -> pl.Series:
    rows = _pick(rng, pl.Series(np.ones(column.len(), dtype=bool)))
    return column.scatter(rows, value)
