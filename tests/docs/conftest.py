"""A small loaded warehouse (chDB) built through the public transforms, for the docs tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from dwh.dds import apply_migrations, build_dds, load_dds, refresh_hourly
from dwh.engines.clickhouse import open_client
from dwh.marts import refresh_marts
from dwh.ods import (
    build_performers,
    clean_configs,
    clean_deliveries,
    clean_orders,
    clean_pipelines,
    clean_stages,
)
from dwh.simulate import generate_history

BANDS = [Decimal(500), Decimal(2000), Decimal(10000)]


@dataclass(frozen=True)
class Loaded:
    """A migrated, loaded and refreshed warehouse and the DDS frames that went into it."""

    client: Client
    dds: dict[str, pl.DataFrame]


def simulated_dds(orders: int, end: datetime) -> dict[str, pl.DataFrame]:
    """DDS frames of a simulated history ending at ``end`` (ODS cleanup and DDS builders)."""
    raw = generate_history(orders, days=3, seed=11, end=end).tables()
    order_rows = clean_orders(raw["order"].lazy()).collect().valid
    pipelines = clean_pipelines(raw["pipeline"].lazy(), order_rows.lazy().select("id"))
    pipeline_rows = pipelines.collect().valid
    pipeline_ids = pipeline_rows.lazy().select("id")
    valid = {
        "orders": order_rows,
        "pipelines": pipeline_rows,
        "stages": clean_stages(raw["stage"].lazy(), pipeline_ids).collect().valid,
        "deliveries": clean_deliveries(raw["delivery"].lazy(), pipeline_ids).collect().valid,
        "configs": clean_configs(raw["config"].lazy()).collect().valid,
    }
    no_deletes = pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at")
    ods = {name: frame.lazy().with_columns(no_deletes) for name, frame in valid.items()}
    ods["performers"] = build_performers(ods["deliveries"])
    plans = build_dds(ods, order_class_bands=BANDS)
    return dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """600 orders over the last three days, loaded twice (two versions of every row).

    Built once per module: the queries only read. chDB allows one open data path per
    process, so the client is closed when the module's tests are done.
    """
    client = open_client(f"chdb://{tmp_path_factory.mktemp('docs') / 'chdb'}")
    try:
        dds = simulated_dds(600, datetime.now(UTC))
        apply_migrations(client)
        load_dds(client, dds, version=1)
        load_dds(client, dds, version=2)
        refresh_hourly(client)
        refresh_marts(client, sla_target_seconds=3600)
        yield Loaded(client, dds)
    finally:
        client.close()
