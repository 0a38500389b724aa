"""The public API of dwh.dds and dwh.marts: explicit, sorted, importable."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["dwh.dds", "dwh.marts"])
def test_all_is_sorted_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(module, name) is not None


def test_every_mart_has_a_schema_file() -> None:
    from dwh.dds import discover_migrations
    from dwh.marts import MARTS

    files = {m.path.stem.split("_", 1)[1] for m in discover_migrations() if m.layer == "marts"}
    parts = {mart.parts.name for mart in MARTS if mart.parts is not None}
    assert {mart.name for mart in MARTS} | parts == files
