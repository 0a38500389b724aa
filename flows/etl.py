"""Prefect flow ``etl``: replica → ODS → DDS → marts, as thin tasks over ``dwh.etl``.

The steps and their order are those of :func:`dwh.etl.run_etl`. Frames pass between tasks in
memory; results are neither persisted nor cached (the layers themselves are the durable state,
and every step is safe to retry: state is committed after the data it covers).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from prefect import flow, get_run_logger

from dwh import etl as steps
from dwh.config import get_settings
from dwh.engines.embedded import Dsns, start_embedded
from dwh.extract import Changes
from dwh.observability import track_run
from dwh.ods import LoadCounts, OdsBatch
from dwh.tasks import migrate, retried, step


@retried
def extract(dsns: Dsns, full_refresh: bool) -> Changes:
    """Rows changed on the replica since the cursors."""
    return steps.extract(dsns, get_run_logger().info, full_refresh=full_refresh)


@step
def clean(dsns: Dsns, raw: Mapping[str, pl.DataFrame]) -> OdsBatch:
    """ODS cleanup; invalid rows go to quarantine."""
    return steps.clean(dsns, raw)


@retried
def load_ods(dsns: Dsns, changes: Changes, batch: OdsBatch) -> dict[str, LoadCounts]:
    """Merge the batch and its cursors into the ODS."""
    return steps.load_changes(dsns, changes, batch)


@retried
def first_load(dsns: Dsns, report: steps.EtlReport) -> steps.EtlReport:
    """Fill an empty ODS and the DDS from the whole replica, slice by slice."""
    steps.first_load(dsns, get_settings(), report, get_run_logger().info)
    return report


@retried
def settle_replica(dsns: Dsns, changes: Changes) -> int:
    """Mark orders the source deleted; record the replica snapshot as loaded."""
    return steps.settle_replica(dsns, changes)


@retried
def propagate(dsns: Dsns, full_refresh: bool) -> dict[str, int]:
    """Rebuild changed facts in ClickHouse, refresh hourly tables and marts."""
    return steps.propagate(dsns, get_settings(), full=full_refresh)


@flow(name="etl", log_prints=True)
def etl(full_refresh: bool = False) -> steps.EtlReport:
    """One ETL run over the configured (or embedded) engines."""
    settings = get_settings()
    dsns = start_embedded(settings)
    migrate(dsns)
    report = steps.EtlReport(mode="full refresh" if full_refresh else "incremental")
    with (
        track_run("etl", settings, clickhouse_dsn=dsns.clickhouse, replica_dsn=dsns.replica) as run,
        steps.run_lock(dsns),
    ):
        if steps.is_first_load(dsns):
            report = first_load(dsns, report)
            run.rows = sum(report.dds.values())
            return report
        changes = extract(dsns, full_refresh)
        batch = clean(dsns, changes.frames)
        report.extracted = {name: frame.height for name, frame in changes.frames.items()}
        report.quarantined = batch.quarantined.height
        report.held_back = batch.held_back_rows
        report.replica_unchanged = changes.unchanged
        report.ods = load_ods(dsns, changes, batch)
        report.deleted_orders = settle_replica(dsns, changes)
        report.dds = propagate(dsns, full_refresh)
        run.rows = sum(report.dds.values())
    return report


if __name__ == "__main__":
    etl()
