"""ODS orders: one row per order (source table ``"order"``), keyed by ``id``."""

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.ods._cleaning import TIMESTAMP, UUID_PATTERN, Cleaned, TableRules, clean


class OrdersSchema(dy.Schema):
    """Cleaned orders: one row per order."""

    id = dy.String(primary_key=True, regex=UUID_PATTERN)
    source_address_id = dy.String(nullable=False, regex=UUID_PATTERN)
    target_address_id = dy.String(nullable=False, regex=UUID_PATTERN)
    extra = dy.String(nullable=True)
    registered_at = dy.Datetime(nullable=False, time_zone="UTC", time_unit="us")


RULES = TableRules(
    table="orders",
    key="id",
    dtypes={
        "id": pl.String(),
        "source_address_id": pl.String(),
        "target_address_id": pl.String(),
        "extra": pl.String(),
        "registered_at": TIMESTAMP,
    },
    required=("id", "source_address_id", "target_address_id", "registered_at"),
    uuid_columns=("id", "source_address_id", "target_address_id"),
)


def clean_orders(raw: pl.LazyFrame) -> Cleaned:
    """Clean raw ``order`` rows (columns as extracted from the replica).

    Orders have no parent, so nothing is held back; rows with a null or malformed id, address
    id or ``registered_at`` are quarantined, duplicate ids keep one row (see ``_cleaning.clean``).
    """
    return clean(raw, RULES, known_parent_ids=None)
