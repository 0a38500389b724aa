"""The public API of dwh.metrics and dwh.dashboards: explicit, sorted, importable."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["dwh.metrics", "dwh.dashboards"])
def test_all_is_sorted_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    # isort-style, as ruff (RUF022) keeps it: constants, then classes, then functions.
    assert names == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(module, name) is not None


def test_observability_defines_every_metric_in_one_registry() -> None:
    from dwh import observability

    names = {metric.name for metric in observability.REGISTRY.collect()}
    assert {
        "dwh_rows_extracted",
        "dwh_rows_loaded",
        "dwh_rows_quarantined",
        "dwh_runs",
        "dwh_run_duration_seconds",
        "dwh_replica_lag_seconds",
        "dwh_mart_freshness_seconds",
        "dwh_events_consumed",
        "dwh_consumer_lag_messages",
        "dwh_dead_letters",
    } <= names
    assert all(name.startswith("dwh_") for name in names)
