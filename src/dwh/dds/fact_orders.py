"""``dds.fact_orders``: one row per order, with the outcome of its delivery attempts.

Definitions:

- ``pipelines_count``: every pipeline of the order the ODS holds, deleted-in-source included.
- ``last_pipeline_id`` / ``last_status``: the pipeline that sorts last by ``(created_at, id)``;
  NULL when the order has no pipeline yet.
- ``is_delivered``: some pipeline of the order has a delivery with ``released_at`` set, i.e. a
  performer was released after ``perform_delivery`` succeeded. This is the same test as
  ``fact_deliveries.is_completed`` (``released_at IS NOT NULL``), so an order is delivered iff
  one of its delivery attempts is completed, whatever happened to later attempts.
- ``delivered_at``: the earliest ``released_at`` among those attempts.
- ``is_deleted_in_source``: the order was hard-deleted in the source (the ODS keeps it).
"""

# dataframely passes the schema class to @dy.rule() functions, named `cls` as in its docs.

from __future__ import annotations

import dataframely as dy
import polars as pl

from dwh.dds._columns import STATUSES, is_deleted, one_of, utc_column, uuid_column


class FactOrdersSchema(dy.Schema):
    """Output of :func:`build_fact_orders`; mirrors ``schemas/dds/*_fact_orders.sql``."""

    order_id = uuid_column(primary_key=True)
    source_address_id = uuid_column()
    target_address_id = uuid_column()
    extra = dy.String(nullable=True)
    registered_at = utc_column()
    pipelines_count = dy.UInt32()
    last_pipeline_id = uuid_column(nullable=True)
    last_status = dy.String(nullable=True, check=one_of(STATUSES))
    is_delivered = dy.Bool()
    delivered_at = utc_column(nullable=True)
    is_deleted_in_source = dy.Bool()

    @dy.rule()
    def delivered_iff_delivered_at(cls) -> pl.Expr:
        """``is_delivered`` and ``delivered_at`` tell the same story."""
        return pl.col("is_delivered") == pl.col("delivered_at").is_not_null()

    @dy.rule()
    def last_pipeline_iff_pipelines(cls) -> pl.Expr:
        """An order has a last pipeline exactly when it has pipelines."""
        return (pl.col("pipelines_count") > 0) == pl.col("last_pipeline_id").is_not_null()


def build_fact_orders(
    orders: pl.LazyFrame, pipelines: pl.LazyFrame, deliveries: pl.LazyFrame
) -> pl.LazyFrame:
    """Build ``fact_orders`` from the ODS ``orders``, ``pipelines`` and ``deliveries`` frames."""
    attempt_order = ["created_at", "id"]
    per_order = (
        pipelines.select("id", "order_id", "status", "created_at")
        .join(
            deliveries.select(pl.col("pipeline_id").alias("id"), "released_at"),
            on="id",
            how="left",
        )
        .group_by("order_id")
        .agg(
            pipelines_count=pl.len().cast(pl.UInt32),
            last_pipeline_id=pl.col("id").sort_by(attempt_order).last(),
            last_status=pl.col("status").sort_by(attempt_order).last(),
            delivered_at=pl.col("released_at").min(),
        )
    )
    return (
        orders.rename({"id": "order_id"})
        .join(per_order, on="order_id", how="left")
        .select(
            "order_id",
            "source_address_id",
            "target_address_id",
            "extra",
            "registered_at",
            pl.col("pipelines_count").fill_null(0).cast(pl.UInt32),
            "last_pipeline_id",
            "last_status",
            is_delivered=pl.col("delivered_at").is_not_null(),
            delivered_at=pl.col("delivered_at"),
            is_deleted_in_source=is_deleted(),
        )
    )
