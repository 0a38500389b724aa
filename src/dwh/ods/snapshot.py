"""Cleaning a whole extracted snapshot: every source table, parents before children.

Parents are cleaned first so that a child's parent check sees the parents that are valid in
this very snapshot, plus those the ODS already holds (a parent may have arrived in an earlier
run). A child whose parent is in neither is held back for a later run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import connectorx as cx
import polars as pl

from dwh.engines.postgres import connectorx_url
from dwh.ods._cleaning import QUARANTINE_SCHEMA
from dwh.ods.configs import clean_configs
from dwh.ods.deliveries import clean_deliveries
from dwh.ods.orders import clean_orders
from dwh.ods.pipelines import clean_pipelines
from dwh.ods.stages import clean_stages

# Source table → ODS table.
ODS_TABLES: Mapping[str, str] = {
    "config": "configs",
    "order": "orders",
    "pipeline": "pipelines",
    "stage": "stages",
    "delivery": "deliveries",
}


@dataclass(frozen=True)
class OdsBatch:
    """A cleaned snapshot: valid rows per ODS table, quarantined rows, and how many wait."""

    tables: dict[str, pl.DataFrame]
    quarantined: pl.DataFrame
    held_back: int


def ods_keys(dsn: str) -> dict[str, pl.DataFrame]:
    """The keys of the parent tables already in the ODS (``orders`` and ``pipelines``)."""
    url = connectorx_url(dsn)
    return {
        table: cx.read_sql(url, f"SELECT id::text AS id FROM ods.{table}", return_type="polars")
        for table in ("orders", "pipelines")
    }


def clean_snapshot(
    raw: Mapping[str, pl.DataFrame], known: Mapping[str, pl.DataFrame] | None = None
) -> OdsBatch:
    """Clean every extracted source table; ``known`` holds parent keys already in the ODS."""
    known = known or {}

    def parents(table: str, valid: pl.DataFrame) -> pl.LazyFrame:
        ids = [valid.select("id").lazy()]
        if table in known:
            ids.append(known[table].lazy().select(pl.col("id").cast(pl.String)))
        return pl.concat(ids).unique()

    configs = clean_configs(raw["config"].lazy()).collect()
    orders = clean_orders(raw["order"].lazy()).collect()
    pipelines = clean_pipelines(raw["pipeline"].lazy(), parents("orders", orders.valid)).collect()
    pipeline_ids = parents("pipelines", pipelines.valid)
    stages = clean_stages(raw["stage"].lazy(), pipeline_ids).collect()
    deliveries = clean_deliveries(raw["delivery"].lazy(), pipeline_ids).collect()

    cleaned = {
        "configs": configs,
        "orders": orders,
        "pipelines": pipelines,
        "stages": stages,
        "deliveries": deliveries,
    }
    quarantined = pl.concat(
        [c.quarantined.select(QUARANTINE_SCHEMA.names()) for c in cleaned.values()]
    )
    return OdsBatch(
        tables={name: c.valid for name, c in cleaned.items()},
        quarantined=quarantined,
        held_back=sum(c.held_back.height for c in cleaned.values()),
    )
