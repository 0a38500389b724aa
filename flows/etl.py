"""Prefect flow ``etl``: replica → ODS → DDS → marts, as thin tasks over ``dwh.etl``.

Frames pass between tasks in memory; results are not persisted or cached (they are whole tables
and the layers themselves are the durable state).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dwh import etl as steps
from dwh.config import get_settings
from dwh.engines.embedded import Dsns, start_embedded
from dwh.ods import LoadCounts, OdsBatch, read_ods

# Transient failures (a server restarting, a lock held by another process) deserve retries.
RETRIES = 3
RETRY_DELAYS: list[float] = [5, 20, 60]
JITTER = 0.5


@task(cache_policy=NO_CACHE, persist_result=False)
def migrate(dsns: Dsns) -> list[str]:
    """Apply pending ODS and ClickHouse migrations."""
    return steps.migrate(dsns)


@task(
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=JITTER,
)
def extract(dsns: Dsns) -> dict[str, pl.DataFrame]:
    """Snapshot the source tables from the replica."""
    return steps.extract(dsns, get_run_logger().info)


@task(cache_policy=NO_CACHE, persist_result=False)
def clean(dsns: Dsns, raw: Mapping[str, pl.DataFrame]) -> OdsBatch:
    """ODS cleanup; invalid rows go to quarantine."""
    return steps.clean(dsns, raw)


@task(
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=JITTER,
)
def load_ods(dsns: Dsns, batch: OdsBatch) -> dict[str, LoadCounts]:
    """Merge the cleaned snapshot into the ODS."""
    return steps.load_ods_layer(dsns, batch)


@task(
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=JITTER,
)
def load_dds(dsns: Dsns) -> dict[str, int]:
    """Build facts from the ODS, insert them, refresh hourly tables and marts."""
    settings = get_settings()
    facts = steps.build_dds(read_ods(dsns.ods), settings)
    with steps.clickhouse_session(dsns) as client:
        return steps.load_dds_layer(client, facts, settings)


@flow(name="etl", log_prints=True)
def etl() -> steps.EtlReport:
    """One ETL run over the configured (or embedded) engines."""
    dsns = start_embedded(get_settings())
    migrate(dsns)
    raw = extract(dsns)
    batch = clean(dsns, raw)
    report = steps.EtlReport(
        extracted={name: frame.height for name, frame in raw.items()},
        quarantined=batch.quarantined.height,
        held_back=batch.held_back,
    )
    report.ods = load_ods(dsns, batch)
    report.dds = load_dds(dsns)
    return report


if __name__ == "__main__":
    etl()
