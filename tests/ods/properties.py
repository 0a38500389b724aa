"""Properties every cleanup transform must have, checked on any raw frame."""

from __future__ import annotations

import json
from collections.abc import Callable

import dataframely as dy
import polars as pl
from polars.testing import assert_frame_equal

from dwh.ods import Cleaned, CleanedFrames
from dwh.ods._cleaning import QUARANTINE_SCHEMA

Clean = Callable[[pl.LazyFrame, pl.LazyFrame], Cleaned]


def check_cleaning(
    raw: pl.DataFrame,
    clean: Clean,
    schema: type[dy.Schema],
    *,
    table: str,
    key: str,
    known: pl.DataFrame,
    parent: str | None = None,
) -> CleanedFrames:
    """Assert the shared properties of one cleanup run; return its output for further checks."""
    out = clean(raw.lazy(), known.lazy()).collect()

    # Row accounting: every input row lands in exactly one output.
    assert out.valid.height + out.quarantined.height + out.held_back.height == raw.height

    # Valid rows match the output schema: types, nullability, unique key, enums, rules.
    schema.validate(out.valid)
    assert out.valid[key].is_unique().all()

    # Quarantine rows name the table, the key and at least one reason, and carry the raw row.
    assert out.quarantined.schema == QUARANTINE_SCHEMA
    assert (out.quarantined["table_name"] == table).all()
    assert out.quarantined["record_key"].null_count() == 0
    assert (out.quarantined["reason"].str.len_chars() > 0).all()
    for payload in out.quarantined["payload"]:
        assert set(json.loads(payload)) == set(raw.columns)

    # Held-back rows keep the raw schema; their parent is unknown, every valid row's is known.
    assert out.held_back.schema == raw.schema
    if parent is None:
        assert out.held_back.is_empty()
    else:
        known_ids = set(known["id"].str.to_lowercase())
        assert set(out.valid[parent]) <= known_ids
        assert not set(out.held_back[parent].str.to_lowercase()) & known_ids
        # Held back only for the missing parent: once it is known, they all pass.
        released = clean(
            out.held_back.lazy(),
            out.held_back.select(pl.col(parent).str.to_lowercase().alias("id")).lazy(),
        ).collect()
        assert released.valid.height == out.held_back.height

    # Idempotent: cleaning the valid output again changes nothing.
    again = clean(out.valid.lazy(), known.lazy()).collect()
    assert_frame_equal(again.valid, out.valid, check_row_order=False)
    assert again.quarantined.is_empty()
    assert again.held_back.is_empty()

    # Deterministic: the input order does not change what is kept or quarantined.
    shuffled = clean(raw.sample(fraction=1.0, shuffle=True, seed=7).lazy(), known.lazy()).collect()
    assert_frame_equal(shuffled.valid, out.valid, check_row_order=False)
    assert_frame_equal(shuffled.quarantined, out.quarantined, check_row_order=False)
    return out
