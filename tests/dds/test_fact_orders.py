"""fact_orders: one row per order; key, accounting and the last-pipeline/delivered definitions."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings

from dds.ods_history import ODS_SCHEMAS, lazy, ods_histories
from dwh.dds import FactOrdersSchema, build_fact_orders


def _build(ods: dict[str, pl.DataFrame]) -> pl.DataFrame:
    frames = lazy(ods)
    return build_fact_orders(frames["orders"], frames["pipelines"], frames["deliveries"]).collect()


@settings(max_examples=40, deadline=None)
@given(ods=ods_histories())
def test_fact_orders_properties(ods: dict[str, pl.DataFrame]) -> None:
    out = _build(ods)
    FactOrdersSchema.validate(out)
    assert out.columns == FactOrdersSchema.column_names()
    assert out.height == ods["orders"].height
    assert out["order_id"].null_count() == 0
    assert out["order_id"].is_unique().all()
    assert out["pipelines_count"].sum() == ods["pipelines"].height

    released = {
        row["pipeline_id"]: row["released_at"] for row in ods["deliveries"].iter_rows(named=True)
    }
    by_order: dict[str, list[dict[str, object]]] = {}
    for row in ods["pipelines"].iter_rows(named=True):
        by_order.setdefault(row["order_id"], []).append(row)
    for row in out.iter_rows(named=True):
        pipelines = sorted(
            by_order.get(row["order_id"], []), key=lambda p: (p["created_at"], p["id"])
        )
        last = pipelines[-1] if pipelines else None
        assert row["last_pipeline_id"] == (last["id"] if last else None)
        assert row["last_status"] == (last["status"] if last else None)
        releases = [released.get(p["id"]) for p in pipelines]
        delivered = [at for at in releases if at is not None]
        assert row["is_delivered"] == bool(delivered)
        assert row["delivered_at"] == (min(delivered) if delivered else None)


@settings(max_examples=20, deadline=None)
@given(ods=ods_histories())
def test_deleted_in_source_follows_the_ods_mark(ods: dict[str, pl.DataFrame]) -> None:
    out = _build(ods)
    marked = ods["orders"].filter(pl.col("_deleted_at").is_not_null())["id"].to_list()
    assert sorted(out.filter("is_deleted_in_source")["order_id"].to_list()) == sorted(marked)


def test_order_without_pipelines_is_kept_with_zero_count() -> None:
    orders = pl.DataFrame(
        {
            "id": ["00000000-0000-4000-8000-000000000001"],
            "source_address_id": ["00000000-0000-4000-8000-00000000000a"],
            "target_address_id": ["00000000-0000-4000-8000-00000000000b"],
            "extra": [None],
            "registered_at": [datetime(2025, 1, 1, tzinfo=UTC)],
            "_deleted_at": [None],
            "_loaded_at": [None],
        },
        schema=ODS_SCHEMAS["orders"],
    )
    empty = {name: pl.DataFrame(schema=ODS_SCHEMAS[name]) for name in ("pipelines", "deliveries")}
    out = _build({"orders": orders, **empty})
    FactOrdersSchema.validate(out)
    row = out.select("pipelines_count", "last_pipeline_id", "is_delivered").row(0)
    assert row == (0, None, False)
