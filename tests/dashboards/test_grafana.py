"""The committed Grafana provisioning: up to date, self-consistent, and only real tables."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from dwh.dashboards import DASHBOARDS, expand_like_grafana
from dwh.dashboards import grafana as render
from dwh.dds import apply_migrations

ROOT = render.DEFAULT_ROOT
REGENERATE = "python -m dwh.dashboards"


def _dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "dashboards").glob("*.json"))
    }


def _datasources() -> list[dict[str, Any]]:
    text = (ROOT / "provisioning/datasources/dwh.yaml").read_text(encoding="utf-8")
    sources: list[dict[str, Any]] = yaml.safe_load(text)["datasources"]
    return sources


def _references(node: object) -> Iterator[dict[str, Any]]:
    """Every ``datasource`` object anywhere in a dashboard."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _targets() -> list[tuple[str, str]]:
    return [
        (f"{name}:{panel['title']}", target["rawSql"])
        for name, board in _dashboards().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_committed_files_match_the_definitions() -> None:
    assert render.stale(DASHBOARDS) == [], f"run `{REGENERATE}` and commit dashboards/grafana"
    assert set(_dashboards()) == {"operational", "technical", "business"}


def test_regenerating_into_an_empty_folder_writes_the_same(tmp_path: Path) -> None:
    written = render.write(DASHBOARDS, tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "provisioning/datasources/dwh.yaml",
        "provisioning/dashboards/dwh.yaml",
        "dashboards/operational.json",
        "dashboards/technical.json",
        "dashboards/business.json",
    }
    assert render.stale(DASHBOARDS, tmp_path) == []


def test_dashboards_reference_only_provisioned_datasources() -> None:
    defined = {source["uid"]: source["type"] for source in _datasources()}
    assert len(defined) == len(_datasources()), "datasource uids repeat"
    assert defined[render.DDS_UID] == "grafana-clickhouse-datasource"
    assert defined[render.MARTS_UID] == "grafana-clickhouse-datasource"
    assert defined[render.PROMETHEUS_UID] == "prometheus"
    used = [ref for board in _dashboards().values() for ref in _references(board)]
    assert used
    for ref in used:
        assert ref["uid"] in defined, ref
        assert ref["type"] == defined[ref["uid"]], ref


def test_no_secret_is_committed() -> None:
    for source in _datasources():
        for value in source.get("secureJsonData", {}).values():
            assert re.fullmatch(r"\$\{[A-Z_]+\}", value), "secrets come from Grafana's environment"


def test_dashboards_are_well_formed() -> None:
    provider = yaml.safe_load((ROOT / "provisioning/dashboards/dwh.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == render.CONTAINER_DASHBOARDS
    boards = _dashboards()
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    for board in boards.values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids)
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, panel["title"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not area & cells, f"{panel['title']} overlaps another panel"
            cells |= area
            for target in panel["targets"]:
                assert target["editorType"] == "sql"
                timeseries = panel["type"] == "timeseries"
                assert target["format"] == (0 if timeseries else 1)


@pytest.fixture
def migrated(clickhouse: Client) -> Client:
    apply_migrations(clickhouse)
    return clickhouse


def test_queries_read_only_tables_and_columns_that_exist(migrated: Client) -> None:
    tables = {
        f"{db}.{name}"
        for db, name in migrated.query(
            "SELECT database, name FROM system.tables WHERE database IN ('dds', 'marts')"
        ).result_rows
    }
    end = int(time.time())
    for where, sql in _targets():
        for db, name in re.findall(r"\b(dds|marts)\.([a-z_][a-z0-9_]*)\b", sql):
            assert f"{db}.{name}" in tables, f"{where}: no table {db}.{name}"
        # Run as Grafana would send it; an unknown column fails here even on empty tables.
        migrated.query(expand_like_grafana(sql, start=end - 86_400, end=end))
