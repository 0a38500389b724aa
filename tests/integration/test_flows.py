"""The Prefect flow ``etl`` runs the same steps as the library, under a real Prefect API."""

from __future__ import annotations

import psycopg
import pytest
from prefect.testing.utilities import prefect_test_harness

from dwh.config import Settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import Dsns
from dwh.etl import clickhouse_session
from dwh.orchestration import load_flows_module


@pytest.mark.integration
def test_etl_flow_completes(
    simulated: Dsns, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("source_dsn", "replica_dsn", "ods_dsn", "clickhouse_dsn"):
        monkeypatch.setenv(f"DWH_{name.upper()}", getattr(settings, name))
    monkeypatch.setenv("DWH_HOME", str(settings.home))
    flows = load_flows_module("etl")

    with prefect_test_harness(server_startup_timeout=120):
        state = flows.etl(return_state=True)

    assert state.is_completed()
    with psycopg.connect(simulated.source) as conn:
        row = conn.execute('SELECT count(*) FROM "order"').fetchone()
    with clickhouse_session(simulated) as client:
        loaded = query_frame(client, "SELECT count() n FROM dds.fact_orders").item()
    assert row is not None
    assert loaded == row[0]
