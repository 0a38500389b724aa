"""Prefect flow ``maintenance`` (daily): retention, delete reconciliation, ClickHouse merges.

Three independent housekeeping steps over the configured (or embedded) engines:

1. drop the ``ods.events`` monthly partitions older than ``DWH_EVENTS_RETENTION_MONTHS``
   (0, the default, keeps them all) with the events sink's own retention function;
2. reconcile source deletes (:func:`dwh.etl.reconcile_deletes`) under the ETL's run lock, so
   orders the platform's cron job hard-deleted are marked even if no ETL run saw the change
   (the next ``etl`` run carries the marks into the DDS);
3. ``OPTIMIZE … FINAL`` the monthly partitions of the versioned DDS tables that hold more than
   one part: every load adds a part of new row versions, and ``FINAL`` reads (every warehouse
   client and the Grafana user read with ``final = 1``) get cheaper once the versions are merged.
   Results never change: ``FINAL`` already shows one version per key.

Each step is a task with retries on an exponential backoff with jitter: a lock held by a
running ETL, or a server restarting, is worth waiting for.
"""

from __future__ import annotations

from typing import NamedTuple

from clickhouse_connect.driver.client import Client
from prefect import flow, get_run_logger

from dwh import etl as steps
from dwh.config import get_settings
from dwh.dds.cluster import TableName, rewrite_statement
from dwh.engines.embedded import Dsns, start_embedded
from dwh.events import OdsEventSink
from dwh.tasks import migrate, retried

# 20 s, 40 s, 80 s (each ±50 %): long enough for an ETL run to release its lock.

#: The DDS tables loaded as row versions (``ReplacingMergeTree``), in the order merged.
#: Hourly tables and marts are swapped in whole partitions (one version each): no merge needed.
VERSIONED_TABLES: tuple[str, ...] = (
    "dds.fact_orders",
    "dds.fact_deliveries",
    "dds.fact_stages",
    "dds.fact_events",
    "dds.fact_metrics",
    "dds.fact_warehouse_runs",
    "dds.dim_performers",
    "dds.dim_configs",
)


class MaintenanceReport(NamedTuple):
    """What one maintenance run did; ``optimized`` maps a table to the partition ids merged."""

    # A NamedTuple, not a dataclass: dataclasses need the module in sys.modules, which
    # dwh.orchestration.load_flows_module does not register.
    dropped_partitions: list[str]
    deleted_orders: int
    optimized: dict[str, list[str]]


def partitions_to_merge(client: Client, table: str, cluster: str = "") -> list[str]:
    """Partition ids of ``table`` that hold more than one active part on some replica."""
    name = TableName.parse(table)
    local = name.local if cluster else name
    parts = f"clusterAllReplicas('{cluster}', system.parts)" if cluster else "system.parts"
    rows = client.query(
        f"SELECT DISTINCT partition_id FROM (SELECT hostName() AS host, partition_id "
        f"FROM {parts} WHERE database = {{db:String}} AND table = {{t:String}} AND active "
        "GROUP BY host, partition_id HAVING count() > 1) ORDER BY partition_id",
        parameters={"db": local.database, "t": local.table},
    ).result_rows
    return [str(row[0]) for row in rows]


def merge_versions(
    client: Client, tables: tuple[str, ...] = VERSIONED_TABLES, cluster: str = ""
) -> dict[str, list[str]]:
    """``OPTIMIZE TABLE … PARTITION ID … FINAL`` where a partition has several parts.

    On a cluster the statements go to each fact's local tables ``ON CLUSTER``. Returns the
    merged partition ids per table (tables with nothing to merge are left out).
    """
    merged: dict[str, list[str]] = {}
    for table in tables:
        partitions = partitions_to_merge(client, table, cluster)
        for partition in partitions:
            statement = f"OPTIMIZE TABLE {table} PARTITION ID '{partition}' FINAL"
            for ddl in rewrite_statement(statement, cluster) if cluster else [statement]:
                client.command(ddl)
        if partitions:
            merged[table] = partitions
    return merged


def drop_expired_event_partitions(ods_dsn: str, retention_months: int) -> list[str]:
    """Drop the ``ods.events`` partitions past retention; returns their names."""
    sink = OdsEventSink(ods_dsn)
    try:
        return sink.drop_expired_partitions(retention_months)
    finally:
        sink.close()


@retried
def apply_event_retention(dsns: Dsns) -> list[str]:
    """Drop expired ``ods.events`` partitions (``DWH_EVENTS_RETENTION_MONTHS``; 0 keeps all)."""
    dropped = drop_expired_event_partitions(dsns.ods, get_settings().events_retention_months)
    get_run_logger().info("dropped ods.events partitions: %s", ", ".join(dropped) or "none")
    return dropped


@retried
def reconcile_deletes(dsns: Dsns) -> int:
    """Mark orders the source deleted, holding the ETL's run lock (it fails while one runs)."""
    with steps.run_lock(dsns):
        deleted = steps.reconcile_deletes(dsns)
    get_run_logger().info("orders newly marked deleted in source: %d", deleted)
    return deleted


@retried
def optimize_versions(dsns: Dsns) -> dict[str, list[str]]:
    """Merge the row versions of the versioned DDS tables, partition by partition."""
    with steps.clickhouse_session(dsns) as client:
        merged = merge_versions(client, cluster=get_settings().clickhouse_cluster)
    get_run_logger().info("merged partitions: %s", merged or "none")
    return merged


@flow(name="maintenance", log_prints=True)
def maintenance() -> MaintenanceReport:
    """Daily housekeeping over the configured (or embedded) engines."""
    dsns = start_embedded(get_settings())
    migrate(dsns)
    dropped = apply_event_retention(dsns)
    deleted = reconcile_deletes(dsns)
    return MaintenanceReport(dropped, deleted, optimize_versions(dsns))


if __name__ == "__main__":
    maintenance()
