"""The batch ETL: replica → ODS → DDS → marts, as plain library steps.

Each step is a function the Prefect flow wraps in a task and the CLI calls directly, so the
same code runs with and without an orchestrator. A run is a full reload that merges: the ODS is
upserted (rows gone from the source are marked, never dropped) and the DDS receives new versions
of every fact, so running twice leaves every layer as one run would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl
from clickhouse_connect.driver.client import Client

from dwh.config import Settings
from dwh.dds import apply_migrations, load_dds, refresh_hourly
from dwh.dds import build_dds as build_dds_frames
from dwh.engines.clickhouse import open_client
from dwh.engines.embedded import Dsns
from dwh.engines.postgres import connect
from dwh.extract import extract_replica
from dwh.marts import refresh_marts
from dwh.ods import LoadCounts, OdsBatch, clean_snapshot, load_ods, ods_keys, read_ods, upgrade_ods

Progress = Callable[[str], None]


@dataclass
class EtlReport:
    """What one run moved, per layer and table."""

    extracted: dict[str, int] = field(default_factory=dict)
    ods: dict[str, LoadCounts] = field(default_factory=dict)
    quarantined: int = 0
    held_back: int = 0
    dds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def migrate(dsns: Dsns) -> list[str]:
    """Bring the ODS (Alembic) and ClickHouse (``schemas/``) up to date; returns applied files."""
    # Alembic would report an unreachable server as a long traceback; fail early and plainly.
    connect(dsns.ods, "DWH_ODS_DSN").close()
    upgrade_ods(dsns.ods)
    with clickhouse_session(dsns) as client:
        return apply_migrations(client)


def extract(dsns: Dsns, progress: Progress | None = None) -> dict[str, pl.DataFrame]:
    """Full snapshot of the source tables from the replica."""
    return extract_replica(
        dsns.replica,
        on_table=None if progress is None else lambda t, n: progress(f"extracted {t}: {n} rows"),
    )


def clean(dsns: Dsns, raw: Mapping[str, pl.DataFrame]) -> OdsBatch:
    """ODS cleanup of a snapshot; parents already in the ODS count as known for children."""
    return clean_snapshot(raw, known=ods_keys(dsns.ods))


def load_ods_layer(dsns: Dsns, batch: OdsBatch) -> dict[str, LoadCounts]:
    """Merge a cleaned snapshot into the ODS in one transaction."""
    return load_ods(dsns.ods, batch.tables, batch.quarantined, full_snapshot=True)


def build_dds(ods: Mapping[str, pl.DataFrame], settings: Settings) -> dict[str, pl.DataFrame]:
    """Build every DDS fact and dimension from the ODS tables (deleted rows included)."""
    lazy = build_dds_frames(
        {name: frame.lazy() for name, frame in ods.items()},
        order_class_bands=settings.order_class_bands,
    )
    collected = pl.collect_all(list(lazy.values()))
    return dict(zip(lazy, collected, strict=True))


def load_dds_layer(
    client: Client, facts: Mapping[str, pl.DataFrame], settings: Settings
) -> dict[str, int]:
    """Insert new versions of the facts, then recompute hourly tables and marts."""
    # Microseconds since the epoch: later runs always win in ReplacingMergeTree.
    loaded = load_dds(client, facts, version=time.time_ns() // 1000)
    refresh_hourly(client)
    refresh_marts(client, sla_target_seconds=settings.sla_target_seconds)
    return loaded


@contextmanager
def clickhouse_session(dsns: Dsns) -> Iterator[Client]:
    """Short-lived ClickHouse client: chDB locks its directory, so hold it only while needed."""
    client = open_client(dsns.clickhouse)
    try:
        yield client
    finally:
        client.close()


def run_etl(settings: Settings, dsns: Dsns, progress: Progress | None = None) -> EtlReport:
    """One full ETL run: replica → ODS → DDS → marts."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    report = EtlReport()
    raw = extract(dsns, say)
    report.extracted = {name: frame.height for name, frame in raw.items()}
    batch = clean(dsns, raw)
    report.quarantined = batch.quarantined.height
    report.held_back = batch.held_back
    say(f"cleaned: {report.quarantined} quarantined, {report.held_back} held back")
    report.ods = load_ods_layer(dsns, batch)
    say("ODS loaded")
    facts = build_dds(read_ods(dsns.ods), settings)
    say("DDS built")
    with clickhouse_session(dsns) as client:
        report.dds = load_dds_layer(client, facts, settings)
    say("DDS loaded, hourly tables and marts refreshed")
    report.seconds = time.perf_counter() - started
    return report
