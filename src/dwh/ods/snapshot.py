"""Cleaning an extracted batch: every source table, parents before children.

Parents are cleaned first so that a child's parent check sees the parents that are valid in
this very batch, plus those the ODS already holds (a parent may have arrived in an earlier
run). A child whose parent is in neither is held back for a later run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dwh.engines.postgres import connect
from dwh.ods._cleaning import QUARANTINE_SCHEMA
from dwh.ods.configs import clean_configs
from dwh.ods.deliveries import clean_deliveries
from dwh.ods.orders import clean_orders
from dwh.ods.pipelines import clean_pipelines
from dwh.ods.stages import clean_stages

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

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
    """A cleaned batch: valid rows per ODS table, quarantined rows, and rows held back."""

    tables: dict[str, pl.DataFrame]
    quarantined: pl.DataFrame
    held_back: dict[str, pl.DataFrame]
    """Per ODS table, the rows whose parent is not known yet (raw columns)."""

    @property
    def held_back_rows(self) -> int:
        """How many rows wait for their parent."""
        return sum(frame.height for frame in self.held_back.values())


def known_parents(dsn: str, raw: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Parent keys the batch's children refer to that the ODS already holds.

    Only keys missing from the batch itself are looked up, so an incremental batch costs a few
    index probes rather than a read of every key.
    """
    referenced = {
        "orders": raw["pipeline"].get_column("order_id"),
        "pipelines": pl.concat(
            [raw["stage"].get_column("pipeline_id"), raw["delivery"].get_column("pipeline_id")]
        ),
    }
    in_batch = {"orders": raw["order"]["id"], "pipelines": raw["pipeline"]["id"]}
    found: dict[str, pl.DataFrame] = {}
    with connect(dsn, "DWH_ODS_DSN") as conn:
        for table, ids in referenced.items():
            unique = ids.drop_nulls().str.to_lowercase().unique()
            missing = unique.filter(~unique.is_in(in_batch[table].str.to_lowercase()))
            # A malformed id cannot be in the ODS; keep it out of the uuid[] cast.
            candidates = [v for v in missing.to_list() if _UUID.fullmatch(v)]
            rows = (
                conn.execute(
                    f"SELECT id::text FROM ods.{table} WHERE id = ANY(%s::uuid[])",
                    (candidates,),
                ).fetchall()
                if candidates
                else []
            )
            found[table] = pl.DataFrame({"id": [r[0] for r in rows]}, schema={"id": pl.String()})
    return found


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
        held_back={name: c.held_back for name, c in cleaned.items()},
    )
