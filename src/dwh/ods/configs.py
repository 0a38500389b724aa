"""ODS configs: one row per config row ever seen (the tariff history), keyed by ``id``."""

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.ods._cleaning import TIMESTAMP, UUID_PATTERN, Cleaned, TableRules, clean


class ConfigsSchema(dy.Schema):
    """Cleaned config rows: one row per config id."""

    id = dy.String(primary_key=True, regex=UUID_PATTERN)
    min_cost = dy.Float64(nullable=False, min=0.0, allow_inf=False, allow_nan=False)
    rubles_per_meter = dy.Float64(nullable=False, min=0.0, allow_inf=False, allow_nan=False)
    fetched_at = dy.Datetime(nullable=False, time_zone="UTC", time_unit="us")


def _tariff_checks(column: str) -> dict[str, pl.Expr]:
    return {
        f"{column} is not finite": ~pl.col(column).is_finite(),
        f"{column} is negative": pl.col(column) < 0,
    }


RULES = TableRules(
    table="configs",
    key="id",
    dtypes={
        "id": pl.String(),
        "min_cost": pl.Float64(),
        "rubles_per_meter": pl.Float64(),
        "fetched_at": TIMESTAMP,
    },
    required=("id", "min_cost", "rubles_per_meter", "fetched_at"),
    uuid_columns=("id",),
    checks={**_tariff_checks("min_cost"), **_tariff_checks("rubles_per_meter")},
)


def clean_configs(raw: pl.LazyFrame) -> Cleaned:
    """Clean raw ``config`` rows: tariffs must be finite and non-negative; nothing is held back."""
    return clean(raw, RULES, known_parent_ids=None)
