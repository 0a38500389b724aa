"""A small, consistent source snapshot as cleaned frames, for loader and reader tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from dwh.ods import clean_configs, clean_deliveries, clean_orders, clean_pipelines, clean_stages

from .strategies import frame

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)

KEYS = {
    "orders": "id",
    "pipelines": "id",
    "stages": "id",
    "deliveries": "pipeline_id",
    "configs": "id",
    "performers": "performer_id",
}
"""The key of each ODS table, to sort frames read back by."""


def uid(n: int) -> str:
    """A readable, valid uuid: ``uid(7) == '00000000-0000-4000-8000-000000000007'``."""
    return f"00000000-0000-4000-8000-{n:012d}"


def snapshot(orders: int = 3) -> dict[str, pl.DataFrame]:
    """A consistent source snapshot as cleaned frames: ``orders`` orders, one pipeline each
    (ids 100+n), two stages each (200+2n, 201+2n, the second a repeated ``start_pipeline``),
    one delivery each (performer 900 + n % 2) and one config row."""
    order_rows = [
        {
            "id": uid(n),
            "source_address_id": uid(500 + n),
            "target_address_id": uid(600 + n),
            "extra": None,
            "registered_at": T0 + timedelta(minutes=n),
        }
        for n in range(orders)
    ]
    pipeline_rows = [
        {
            "id": uid(100 + n),
            "order_id": uid(n),
            "status": "in_progress",
            "message": None,
            "created_at": T0 + timedelta(minutes=n, seconds=1),
            "started_at": T0 + timedelta(minutes=n, seconds=2),
            "finished_at": None,
        }
        for n in range(orders)
    ]
    stage_rows = [
        {
            "id": uid(200 + 2 * n + k),
            "pipeline_id": uid(100 + n),
            "name": "start_pipeline",
            "status": "succeeded",
            "message": None,
            "created_at": T0 + timedelta(minutes=n, seconds=2 + k),
            "started_at": None,
            "finished_at": None,
        }
        for n in range(orders)
        for k in range(2)
    ]
    delivery_rows = [
        {
            "pipeline_id": uid(100 + n),
            "cost": 100.0 + n + 0.35,
            "estimated_at": T0 + timedelta(minutes=n, seconds=3),
            "performer_id": uid(900 + n % 2),
            "assigned_at": T0 + timedelta(minutes=n, seconds=4),
            "released_at": None,
        }
        for n in range(orders)
    ]
    config_rows = [
        {"id": uid(990), "min_cost": 150.0, "rubles_per_meter": 0.3, "fetched_at": T0},
    ]
    orders_ = clean_orders(frame("orders", order_rows).lazy()).valid
    pipelines = clean_pipelines(frame("pipelines", pipeline_rows).lazy(), orders_).valid
    return {
        "configs": clean_configs(frame("configs", config_rows).lazy()).valid.collect(),
        "orders": orders_.collect(),
        "pipelines": pipelines.collect(),
        "stages": clean_stages(frame("stages", stage_rows).lazy(), pipelines).valid.collect(),
        "deliveries": clean_deliveries(
            frame("deliveries", delivery_rows).lazy(), pipelines
        ).valid.collect(),
    }
