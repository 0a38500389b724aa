"""The maintenance flow's steps (``flows/maintenance.py``) on real engines.

The flow itself runs under a Prefect worker in ``test_prefect_deployments.py``; here its
library-level steps are checked for what they change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from dwh.config import Settings
from dwh.engines.embedded import Dsns
from dwh.etl import clickhouse_session, migrate, run_etl
from dwh.ods import ensure_event_partitions
from dwh.orchestration import load_flows_module

maintenance = load_flows_module("maintenance")


def _settings(dsns: Dsns, home: Path) -> Settings:
    return Settings(
        home=home,
        source_dsn=dsns.source,
        replica_dsn=dsns.replica,
        ods_dsn=dsns.ods,
        clickhouse_dsn=dsns.clickhouse,
    )


@pytest.mark.integration
def test_merge_versions_leaves_one_part_per_partition_and_the_same_rows(
    warehouse_dsns: Dsns, tmp_path: Path
) -> None:
    settings = _settings(warehouse_dsns, tmp_path / "home")
    migrate(warehouse_dsns)
    run_etl(settings, warehouse_dsns)
    run_etl(settings, warehouse_dsns, full_refresh=True)  # a second version of every row

    with clickhouse_session(warehouse_dsns) as client:

        def counts() -> tuple[int, int]:
            raw = client.query(
                "SELECT count() FROM dds.fact_orders", settings={"final": 0}
            ).result_rows[0][0]
            final = client.query("SELECT count() FROM dds.fact_orders FINAL").result_rows[0][0]
            return int(raw), int(final)

        before = counts()
        pending = maintenance.partitions_to_merge(client, "dds.fact_orders")
        merged = maintenance.merge_versions(client)
        after = counts()
        left = {t: maintenance.partitions_to_merge(client, t) for t in maintenance.VERSIONED_TABLES}

    assert before == (600, 300)  # two loads: both versions stored until a merge
    assert pending
    assert merged["dds.fact_orders"] == pending
    assert {"dds.fact_deliveries", "dds.fact_stages"} <= set(merged)
    assert after == (300, 300)
    assert not any(left.values())


@pytest.mark.integration
def test_event_retention_drops_only_partitions_past_retention(pg_dsn: str) -> None:
    from dwh.ods import upgrade_ods

    upgrade_ods(pg_dsn)
    this_month = datetime.now(UTC).date().replace(day=1)
    old = date(2020, 1, 1)
    with psycopg.connect(pg_dsn) as conn:
        ensure_event_partitions(conn, [old, this_month])

    assert maintenance.drop_expired_event_partitions(pg_dsn, 0) == []  # 0 keeps everything
    assert maintenance.drop_expired_event_partitions(pg_dsn, 12) == ["events_p202001"]
    with psycopg.connect(pg_dsn) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'ods.events'::regclass"
            ).fetchall()
        ]
    assert f"events_p{this_month:%Y%m}" in names
    assert "events_p202001" not in names
