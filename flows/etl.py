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
from dwh.ods import OdsBatch
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
def load_and_propagate(
    dsns: Dsns, changes: Changes, batch: OdsBatch, report: steps.EtlReport, full_refresh: bool
) -> steps.EtlReport:
    """Merge the batch into the ODS, mark deletes, rebuild changed facts in ClickHouse and
    refresh the hourly tables and marts they touch."""
    say = get_run_logger().info
    settings = get_settings()
    steps.load_and_propagate(dsns, settings, changes, batch, report, say, full_refresh=full_refresh)
    return report


@retried
def first_load(dsns: Dsns, report: steps.EtlReport) -> steps.EtlReport:
    """Fill an empty ODS and the DDS from the whole replica, slice by slice."""
    steps.first_load(dsns, get_settings(), report, get_run_logger().info)
    return report


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
        report = load_and_propagate(dsns, changes, batch, report, full_refresh)
        run.rows = sum(report.dds.values())
    return report


if __name__ == "__main__":
    etl()
