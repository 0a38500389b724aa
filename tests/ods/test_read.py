"""Reading the ODS back: exact round trip of every value through COPY/CSV and connectorx."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import dataframely as dy
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dwh.ods import (
    ConfigsSchema,
    DeliveriesSchema,
    OrdersSchema,
    PipelinesSchema,
    StagesSchema,
    load_ods,
    read_ods,
)
from dwh.ods._cleaning import STAGE_NAMES, STATUSES
from dwh.ods._read import ods_frame_schema

from .snapshots import uid

pytestmark = pytest.mark.integration

HOSTILE_TEXT = ["", " ", 'a "quoted", comma', "line\nbreak\r\n", "NULL", "\\N", "юникод ✓", None]


def _sample(
    schema: type[dy.Schema], seed: int, rows: int, **overrides: list[object]
) -> pl.DataFrame:
    generator = dy.random.Generator(seed=seed)
    return schema.sample(rows, generator=generator, overrides=overrides or None)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # keys never repeat
)
@given(seed=st.integers(0, 2**31))
def test_loaded_values_come_back_exactly(ods_dsn: str, seed: int) -> None:
    # dataframely samples span years 0001..9999, floats up to 1.8e308, costs up to 10^10.
    rows = len(HOSTILE_TEXT)
    frames = {
        "orders": _sample(OrdersSchema, seed, rows, extra=HOSTILE_TEXT),
        "configs": _sample(ConfigsSchema, seed, rows),
        "deliveries": _sample(DeliveriesSchema, seed, rows),
        "pipelines": _sample(
            PipelinesSchema,
            seed,
            rows,
            status=[STATUSES[i % 5] for i in range(rows)],
            message=HOSTILE_TEXT,
            started_at=[None] * rows,
        ),
        "stages": _sample(
            StagesSchema,
            seed,
            rows,
            name=[STAGE_NAMES[i % 5] for i in range(rows)],
            status=[STATUSES[i % 5] for i in range(rows)],
            started_at=[None] * rows,
        ),
    }
    load_ods(ods_dsn, frames, None, full_snapshot=False)
    back = read_ods(ods_dsn)
    for name, frame in frames.items():
        key = frame.columns[0]
        got = back[name].join(frame.select(key), on=key, how="semi").select(frame.columns)
        assert_frame_equal(got, frame, check_row_order=False)


def test_read_types(ods_dsn: str) -> None:
    orders = pl.DataFrame(
        {
            "id": [uid(1)],
            "source_address_id": [uid(2)],
            "target_address_id": [uid(3)],
            "extra": [None],
            "registered_at": [datetime(2024, 1, 1, tzinfo=UTC)],
        },
        schema=pl.Schema(OrdersSchema),
    )
    load_ods(ods_dsn, {"orders": orders}, None, full_snapshot=False)
    frames = read_ods(ods_dsn)
    assert set(frames) == {"orders", "pipelines", "stages", "deliveries", "configs", "performers"}
    for name, frame in frames.items():
        assert frame.schema == ods_frame_schema(name)
    assert frames["deliveries"].schema["cost"] == pl.Decimal(12, 2)
    assert frames["orders"]["id"].to_list() == [uid(1)]
    assert frames["orders"]["_deleted_at"].to_list() == [None]


def test_costs_keep_their_cents(ods_dsn: str) -> None:
    costs = [Decimal("0.10"), Decimal("1234.56"), Decimal("9999999999.99"), None]
    deliveries = DeliveriesSchema.sample(len(costs), overrides={"cost": costs})
    load_ods(ods_dsn, {"deliveries": deliveries}, None, full_snapshot=False)
    back = read_ods(ods_dsn)["deliveries"].join(
        deliveries.select("pipeline_id", "cost"), on="pipeline_id"
    )
    assert (back["cost"] == back["cost_right"]).fill_null(True).all()
    assert back["cost"].null_count() == 1
