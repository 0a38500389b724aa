"""The generated frames, without a database: API, determinism, shapes and the anomaly switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import dwh.simulate
from dwh.simulate import STAGE_NAMES, STATUSES, TABLES, generate_history

from .conftest import END


def test_public_api_is_explicit_and_sorted() -> None:
    exported = dwh.simulate.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert all(hasattr(dwh.simulate, name) for name in exported)
    assert {"SimulationSummary", "create_source_schema", "simulate"} <= set(exported)


def test_same_arguments_give_the_same_rows() -> None:
    first = generate_history(500, days=2, seed=7, end=END)
    second = generate_history(500, days=2, seed=7, end=END)
    for table in TABLES:
        assert first.tables()[table].equals(second.tables()[table]), table


def test_another_seed_gives_new_ids() -> None:
    first = generate_history(300, days=2, seed=1, end=END)
    second = generate_history(300, days=2, seed=2, end=END)
    for table, key in (("order", "id"), ("pipeline", "id"), ("stage", "id")):
        ids = first.tables()[table][key]
        assert not ids.is_in(second.tables()[table][key].implode()).any(), table
    # Tariffs depend on the time only, so two runs agree on every refresh slot.
    assert first.config.equals(second.config)


def test_ids_are_canonical_uuid4_text() -> None:
    history = generate_history(200, days=1, seed=3, end=END)
    pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    for frame in history.tables().values():
        for column in frame.columns:
            if column == "id" or column.endswith("_id"):
                assert frame[column].drop_nulls().str.contains(pattern).all(), column


def test_orders_span_the_requested_days_and_end() -> None:
    history = generate_history(2_000, days=3, seed=4, end=END)
    registered = history.order["registered_at"]
    assert registered.min() >= END - timedelta(days=3)  # type: ignore[operator]
    assert registered.max() <= END  # type: ignore[operator]
    assert (registered > END - timedelta(hours=24)).sum() > 0
    assert history.order["id"].n_unique() == 2_000


def test_config_rows_follow_the_refresh_period() -> None:
    history = generate_history(100, days=1, seed=0, end=END, config_every=timedelta(minutes=10))
    fetched = history.config["fetched_at"]
    assert fetched.is_sorted()
    assert (fetched.diff().drop_nulls() == timedelta(minutes=10)).all()
    assert fetched.max() <= END  # type: ignore[operator]
    assert fetched.min() <= history.order["registered_at"].min()  # type: ignore[operator]
    # Slowly changing: no jump of more than 5 % between consecutive refreshes.
    for column in ("min_cost", "rubles_per_meter"):
        change = (history.config[column].pct_change().drop_nulls().abs()).max()
        assert isinstance(change, float)
        assert change < 0.05


def test_default_end_is_now() -> None:
    before = datetime.now(UTC)
    history = generate_history(50, days=1, seed=0)
    assert before <= history.end <= datetime.now(UTC)


def test_valid_by_default_anomalies_on_request() -> None:
    clean = generate_history(3_000, days=5, seed=9, end=END)
    dirty = generate_history(3_000, days=5, seed=9, end=END, anomalies=True)

    def unknown(history: dwh.simulate.History) -> dict[str, int]:
        return {
            "pipeline status": int((~history.pipeline["status"].is_in(STATUSES)).sum()),
            "stage status": int((~history.stage["status"].is_in(STATUSES)).sum()),
            "stage name": int((~history.stage["name"].is_in(STAGE_NAMES)).sum()),
            "negative cost": int((history.delivery["cost"] < 0).sum()),
            "released before assigned": int(
                history.delivery.select(pl.col("released_at") < pl.col("assigned_at")).sum().item()
            ),
        }

    assert set(unknown(clean).values()) == {0}
    found = unknown(dirty)
    assert min(found.values()) >= 1, found
    # A small share, and the row counts do not change.
    assert found["stage name"] < 0.01 * dirty.stage.height
    assert {t: f.height for t, f in dirty.tables().items()} == {
        t: f.height for t, f in clean.tables().items()
    }


@pytest.mark.parametrize("bad", [{"orders": -1}, {"days": 0.0}, {"config_every": timedelta(0)}])
def test_rejects_nonsense(bad: dict[str, object]) -> None:
    arguments: dict[str, object] = {"orders": 10, "days": 1.0, "end": END} | bad
    with pytest.raises(ValueError, match="must be"):
        generate_history(**arguments)  # type: ignore[arg-type]


def test_zero_orders_is_an_empty_history() -> None:
    history = generate_history(0, days=1, seed=0, end=END)
    assert history.order.is_empty()
    assert history.pipeline.is_empty()
    assert history.stage.is_empty()
    assert history.config.height > 0
