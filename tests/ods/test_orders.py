"""Cleanup of ``order`` rows: properties on generated frames, and the rules one by one."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings

from dwh.ods import OrdersSchema, clean_orders

from .properties import check_cleaning
from .strategies import frame, raw_orders

ID = "0b0e5f6a-7d1c-4a57-9f8e-2f1d3c4b5a69"
ADDRESS = "5c8f0a2e-9b7d-4e61-8a3f-1d2c3b4a5e6f"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(raw=raw_orders())
def test_cleaning_properties(raw: pl.DataFrame) -> None:
    check_cleaning(
        raw,
        lambda lf, _known: clean_orders(lf),
        OrdersSchema,
        table="orders",
        key="id",
        known=pl.DataFrame({"id": []}, schema={"id": pl.String}),
    )


def _order(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": ID,
        "source_address_id": ADDRESS,
        "target_address_id": ADDRESS,
        "extra": None,
        "registered_at": T0,
    }
    return row | changes


def test_uppercase_uuid_is_normalised_not_rejected() -> None:
    out = clean_orders(frame("orders", [_order(id=ID.upper())]).lazy()).collect()
    assert out.valid["id"].to_list() == [ID]


def test_invalid_rows_are_quarantined_with_every_reason() -> None:
    raw = frame("orders", [_order(id="nope", registered_at=None), _order()])
    out = clean_orders(raw.lazy()).collect()
    assert out.valid["id"].to_list() == [ID]
    assert out.quarantined.row(0) == (
        "orders",
        "nope",
        "registered_at is null; id is not a uuid",
        out.quarantined["payload"][0],
    )


def test_duplicate_keys_keep_one_row_whatever_the_input_order() -> None:
    rows = [_order(extra="b"), _order(extra="a"), _order(extra="a")]
    forward = clean_orders(frame("orders", rows).lazy()).collect()
    backward = clean_orders(frame("orders", rows[::-1]).lazy()).collect()
    assert forward.valid["extra"].to_list() == backward.valid["extra"].to_list() == ["a"]
    assert forward.quarantined["reason"].to_list() == ["duplicate id", "duplicate id"]
