"""``dds.dim_configs``: one row per tariff (config row) ever seen, as a validity interval.

The source keeps only the current config; the ODS records every row it sees. Sorted by
``(fetched_at, config_id)``, each row is valid from its ``fetched_at`` until the next row's
(``valid_to``, exclusive); the last row has ``valid_to`` NULL and ``is_current`` true. Rows that
vanished from the source stay: they are the history.
"""

# dataframely passes the schema class to @dy.rule() functions, named `cls` as in its docs.

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.dds._columns import utc_column, uuid_column


class DimConfigsSchema(dy.Schema):
    """Output of :func:`build_dim_configs`; mirrors ``schemas/dds/*_dim_configs.sql``."""

    config_id = uuid_column(primary_key=True)
    min_cost = dy.Float64(min=0.0)
    rubles_per_meter = dy.Float64(min=0.0)
    valid_from = utc_column()
    valid_to = utc_column(nullable=True)
    is_current = dy.Bool()

    @dy.rule()
    def interval_ordered(cls) -> pl.Expr:
        """An interval never ends before it starts."""
        return pl.col("valid_to") >= pl.col("valid_from")

    @dy.rule()
    def current_iff_open(cls) -> pl.Expr:
        """The current tariff is the one whose interval is still open."""
        return pl.col("is_current") == pl.col("valid_to").is_null()

    @dy.rule()
    def one_current(cls) -> pl.Expr:
        """At most one tariff is current."""
        return pl.col("is_current").sum() <= 1


def build_dim_configs(configs: pl.LazyFrame) -> pl.LazyFrame:
    """Build ``dim_configs`` from the ODS ``configs`` frame (every config row seen)."""
    return (
        configs.select(
            pl.col("id").alias("config_id"),
            "min_cost",
            "rubles_per_meter",
            pl.col("fetched_at").alias("valid_from"),
        )
        .sort("valid_from", "config_id")
        .with_columns(valid_to=pl.col("valid_from").shift(-1))
        .with_columns(is_current=pl.col("valid_to").is_null())
    )
