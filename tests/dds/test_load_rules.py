"""load_dds(rules=False): frames built by build_dds are checked for structure, not re-validated."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import dataframely as dy
import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from dds.ods_history import simulate_history
from dds.warehouse import assert_same, build, read_table
from dwh.dds import DDS_SCHEMAS, apply_migrations, load_dds


@pytest.fixture
def warehouse(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


def _dds(n_orders: int = 40) -> dict[str, pl.DataFrame]:
    return build(simulate_history(random.Random(11), n_orders=n_orders, end=datetime.now(UTC)))


def test_built_frames_load_the_same_with_and_without_rules(warehouse: Client) -> None:
    dds = _dds()
    for name, frame in dds.items():
        DDS_SCHEMAS[name].validate(frame)  # what rules=False relies on
    assert load_dds(warehouse, dds, version=1, rules=False) == {
        name: frame.height for name, frame in dds.items()
    }
    assert_same(read_table(warehouse, "dds.fact_stages"), dds["fact_stages"], ["stage_id"])


def test_a_frame_off_its_structure_is_validated_in_full(warehouse: Client) -> None:
    orders = _dds(n_orders=5)["fact_orders"]
    # A castable dtype is cast, as validate(cast=True) does.
    widened = orders.with_columns(pl.col("pipelines_count").cast(pl.Int64))
    assert load_dds(warehouse, {"fact_orders": widened}, version=1, rules=False) == {
        "fact_orders": orders.height
    }
    # A NULL the schema forbids is refused before anything is written.
    broken = orders.with_columns(pl.lit(None, dtype=pl.String).alias("source_address_id"))
    with pytest.raises(dy.exc.ValidationError):
        load_dds(warehouse, {"fact_orders": broken}, version=2, rules=False)
    assert warehouse.query("SELECT max(_version) FROM dds.fact_orders").result_rows[0][0] == 1
