"""Property: any small history, whatever its size, span and seed, keeps every invariant."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwh.simulate import create_source_schema, simulate

from .conftest import END
from .invariants import violations

pytestmark = pytest.mark.integration


@given(
    orders=st.integers(min_value=0, max_value=150),
    days=st.sampled_from([0.01, 0.2, 3.0, 400.0]),
    seed=st.integers(min_value=0, max_value=2**63 - 1),
    hours_every=st.sampled_from([0.25, 1.0, 24.0]),
)
@settings(max_examples=20, deadline=None)
def test_small_histories_keep_the_invariants(
    module_dsn: str, orders: int, days: float, seed: int, hours_every: float
) -> None:
    create_source_schema(module_dsn)
    with psycopg.connect(module_dsn) as conn:
        conn.execute('TRUNCATE config, "order", pipeline, stage, delivery')
    summary = simulate(
        module_dsn,
        orders=orders,
        days=days,
        seed=seed,
        end=END,
        config_every=timedelta(hours=hours_every),
    )
    assert summary.orders == orders
    assert violations(module_dsn, END) == {}
