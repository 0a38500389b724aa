"""``dwh run metrics`` as a user runs it, and the Prefect flow ``metrics``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from prefect.testing.utilities import prefect_test_harness

from dwh.engines.embedded import Dsns
from dwh.metrics import state_key
from dwh.orchestration import load_flows_module

from .conftest import Exporter, wait_for_history

pytestmark = pytest.mark.integration


def _env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_API"))}
    env["DWH_HOME"] = str(home)
    env.update(settings)
    return env


def _configured(dsns: Dsns, prometheus: str) -> dict[str, str]:
    return {
        "DWH_SOURCE_DSN": dsns.source,
        "DWH_REPLICA_DSN": dsns.replica,
        "DWH_ODS_DSN": dsns.ods,
        "DWH_CLICKHOUSE_DSN": dsns.clickhouse,
        "DWH_PROMETHEUS_URL": prometheus,
        "DWH_PROMETHEUS_QUERIES": json.dumps(["up", "prober_create_orders_total"]),
        "DWH_PROMETHEUS_STEP_SECONDS": "1",
        "DWH_PROMETHEUS_DELAY_SECONDS": "1",
        "DWH_PROMETHEUS_LOOKBACK_SECONDS": "60",
    }


def _dwh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dwh", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_without_a_prometheus_url_it_says_which_setting(home: Path) -> None:
    result = _dwh(_env(home), "run", "metrics")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: DWH_PROMETHEUS_URL: not set; point it at the Prometheus HTTP API, "
        "e.g. http://127.0.0.1:9090"
    ]
    assert not (home / "pg").exists(), "no engine is started for a run that cannot work"


def test_run_metrics_loads_samples(
    exporter: Exporter, prometheus: str, warehouse: Dsns, home: Path
) -> None:
    wait_for_history(prometheus, "up")

    result = _dwh(_env(home, **_configured(warehouse, prometheus)), "run", "metrics")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "samples from 2 queries" in result.stdout
    # Read back from another process too: this one opened chDB before the run wrote to it.
    read = _dwh(
        _env(home, DWH_CLICKHOUSE_DSN=warehouse.clickhouse),
        "sql",
        "SELECT DISTINCT metric FROM dds.fact_metrics ORDER BY metric",
        "--format",
        "json",
    )
    assert json.loads(read.stdout) == [
        {"metric": "prober_create_orders_total"},
        {"metric": "up"},
    ], result.stdout


def test_the_prefect_flow_runs_the_same_job(
    exporter: Exporter,
    prometheus: str,
    warehouse: Dsns,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wait_for_history(prometheus, "up")
    for name, value in _env(home, **_configured(warehouse, prometheus)).items():
        if name.startswith("DWH_"):
            monkeypatch.setenv(name, value)
    flows = load_flows_module("metrics")

    with prefect_test_harness(server_startup_timeout=120):
        state = flows.metrics(return_state=True)

    assert state.is_completed()
    report = state.result()
    assert report.failed == {}
    assert report.rows > 0
    with psycopg.connect(warehouse.ods) as conn:
        row = conn.execute(
            "SELECT last_run_status FROM ods.load_state WHERE table_name = %s",
            (state_key("up"),),
        ).fetchone()
    assert row == ("succeeded",)
