"""Render the dashboards as Grafana provisioning: datasources, a dashboard provider, JSON.

Layout under ``dashboards/grafana/`` (the docker-compose stack mounts it)::

    provisioning/datasources/dwh.yaml    → /etc/grafana/provisioning/datasources/
    provisioning/dashboards/dwh.yaml     → /etc/grafana/provisioning/dashboards/
    dashboards/<slug>.json               → /var/lib/grafana/dashboards/dwh/ (the provider's path)

The files are generated (``python -m dwh.dashboards``) and committed; a test fails when they
fall behind the definitions. Datasources have fixed uids, which the dashboards reference.
A panel reading only ``marts.*`` uses the MARTS datasource, any other the DDS one, so MARTS
may live on a separate ClickHouse server (DESIGN §2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dwh.dashboards._model import Chart, Dashboard, Panel

DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "dashboards" / "grafana"
#: Where the provider reads the dashboard JSON inside the Grafana container.
CONTAINER_DASHBOARDS = "/var/lib/grafana/dashboards/dwh"

CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"
DDS_UID = "dwh-clickhouse-dds"
MARTS_UID = "dwh-clickhouse-marts"
PROMETHEUS_UID = "dwh-prometheus"

_FORMAT_TIMESERIES = 0
_FORMAT_TABLE = 1
_STAT_HEIGHT = 4
_CHART_HEIGHT = 8
_TABLE_HEIGHT = 9


def _clickhouse(name: str, uid: str, database: str, *, default: bool) -> dict[str, Any]:
    # Host names are the compose stack's services; credentials come from Grafana's environment
    # (provisioning expands $VARS), so no secret is committed.
    return {
        "name": name,
        "uid": uid,
        "type": CLICKHOUSE_PLUGIN,
        "access": "proxy",
        "isDefault": default,
        "editable": False,
        "jsonData": {
            "host": f"${{DWH_GRAFANA_{database.upper()}_HOST}}",
            "port": 8123,
            "protocol": "http",
            "secure": False,
            "username": "${DWH_GRAFANA_CLICKHOUSE_USER}",
            "defaultDatabase": database,
        },
        "secureJsonData": {"password": "${DWH_GRAFANA_CLICKHOUSE_PASSWORD}"},
    }


def datasources() -> dict[str, Any]:
    """The datasource provisioning file's content."""
    return {
        "apiVersion": 1,
        "datasources": [
            _clickhouse("dwh DDS (ClickHouse)", DDS_UID, "dds", default=True),
            _clickhouse("dwh MARTS (ClickHouse)", MARTS_UID, "marts", default=False),
            {
                "name": "Prometheus",
                "uid": PROMETHEUS_UID,
                "type": "prometheus",
                "access": "proxy",
                "isDefault": False,
                "editable": False,
                "url": "http://prometheus:9090",
                "jsonData": {"timeInterval": "1s"},
            },
        ],
    }


def provider() -> dict[str, Any]:
    """The dashboard provider provisioning file's content."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "dwh",
                "orgId": 1,
                "folder": "dwh",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": CONTAINER_DASHBOARDS, "foldersFromFilesStructure": False},
            }
        ],
    }


def datasource_for(panel: Panel) -> dict[str, str]:
    """The datasource reference of a panel: MARTS when it reads only marts, else DDS."""
    marts_only = bool(panel.tables) and all(t.startswith("marts.") for t in panel.tables)
    return {"type": CLICKHOUSE_PLUGIN, "uid": MARTS_UID if marts_only else DDS_UID}


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": str(panel.unit)}
    if panel.log_axis:
        defaults["custom"] = {"scaleDistribution": {"type": "log", "log": 10}}
    if panel.chart is Chart.timeseries:
        defaults["custom"] = {
            **defaults.get("custom", {}),
            "drawStyle": "bars" if panel.bars else "line",
            "fillOpacity": 80 if panel.bars else 10,
            "lineWidth": 1 if panel.bars else 2,
            "showPoints": "never" if panel.bars else "auto",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
        }
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}
    if panel.chart is Chart.timeseries:
        return {"legend": legend, "tooltip": {"mode": "multi", "sort": "none"}}
    if panel.chart is Chart.bar:
        return {
            "xField": panel.x,
            "orientation": "auto",
            "stacking": "normal" if panel.stacked else "none",
            "showValue": "auto",
            "legend": legend,
            "tooltip": {"mode": "multi", "sort": "none"},
        }
    if panel.chart is Chart.stat:
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value",
            "justifyMode": "auto",
        }
    return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}


_PANEL_TYPES = {
    Chart.timeseries: "timeseries",
    Chart.bar: "barchart",
    Chart.stat: "stat",
    Chart.table: "table",
}


def _panel(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    source = datasource_for(panel)
    timeseries = panel.chart is Chart.timeseries
    return {
        "id": panel_id,
        "type": _PANEL_TYPES[panel.chart],
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid,
        "datasource": source,
        "targets": [
            {
                "refId": "A",
                "datasource": source,
                "editorType": "sql",
                "format": _FORMAT_TIMESERIES if timeseries else _FORMAT_TABLE,
                "queryType": "timeseries" if timeseries else "table",
                "rawSql": " ".join(panel.sql.split()),
            }
        ],
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
    }


def _height(panel: Panel) -> int:
    if panel.chart is Chart.stat:
        return _STAT_HEIGHT
    return _TABLE_HEIGHT if panel.chart is Chart.table else _CHART_HEIGHT


def dashboard_json(dashboard: Dashboard, *, siblings: tuple[Dashboard, ...] = ()) -> dict[str, Any]:
    """One dashboard as Grafana JSON, linking to ``siblings``; panels flow left to right in
    rows of 24 columns."""
    panels: list[dict[str, Any]] = []
    x = y = row_height = 0
    for number, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        height = _height(panel)
        panels.append(_panel(panel, number, {"h": height, "w": panel.width, "x": x, "y": y}))
        x += panel.width
        row_height = max(row_height, height)
    return {
        "uid": dashboard.uid,
        "title": f"dwh · {dashboard.title}",
        "description": dashboard.description,
        "tags": ["dwh"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5m",
        "time": {"from": "now-7d", "to": "now"},
        "links": [
            {
                "type": "link",
                "title": f"dwh · {other.title}",
                "url": f"/d/{other.uid}",
                "icon": "dashboard",
                "targetBlank": False,
            }
            for other in siblings
            if other.uid != dashboard.uid
        ],
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render(dashboards: tuple[Dashboard, ...]) -> dict[str, str]:
    """Every provisioning file: path relative to the Grafana root → text."""
    header = "# Generated by `python -m dwh.dashboards` from src/dwh/dashboards; do not edit.\n"
    files = {
        "provisioning/datasources/dwh.yaml": header
        + yaml.safe_dump(datasources(), sort_keys=False, allow_unicode=True),
        "provisioning/dashboards/dwh.yaml": header
        + yaml.safe_dump(provider(), sort_keys=False, allow_unicode=True),
    }
    for dashboard in dashboards:
        body = json.dumps(
            dashboard_json(dashboard, siblings=dashboards), indent=2, ensure_ascii=False
        )
        files[f"dashboards/{dashboard.slug}.json"] = body + "\n"
    return files


def write(dashboards: tuple[Dashboard, ...], root: Path = DEFAULT_ROOT) -> list[Path]:
    """Write the provisioning files under ``root``; returns the paths written."""
    written: list[Path] = []
    for relative, text in render(dashboards).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(dashboards: tuple[Dashboard, ...], root: Path = DEFAULT_ROOT) -> list[str]:
    """Provisioning files under ``root`` that differ from a fresh render (or are missing)."""
    out: list[str] = []
    for relative, text in render(dashboards).items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(relative)
    return out
