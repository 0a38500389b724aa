"""Helpers to compare whole warehouses: every DDS table, mart and ODS table, metadata aside."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import psycopg
from polars.testing import assert_frame_equal

from dwh.config import Settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import Dsns
from dwh.etl import clickhouse_session, migrate, run_etl

DDS_TABLES = (
    "fact_orders",
    "fact_deliveries",
    "fact_stages",
    "dim_performers",
    "dim_configs",
    "hourly_orders_mv",
    "hourly_deliveries_mv",
)
MARTS = (
    "performer_efficiency",
    "popular_routes",
    "order_funnel_daily",
    "delivery_sla_daily",
    "revenue_daily",
    "address_activity_daily",
    "failure_reasons",
)
ODS_TABLES = ("orders", "pipelines", "stages", "deliveries", "configs", "performers")


def snapshot_dds(dsns: Dsns, *, live_only: bool = False) -> dict[str, pl.DataFrame]:
    """Every DDS table and mart, sorted, without ``_version``.

    ``live_only`` keeps only fact rows still in the source and skips the aggregates (which
    count deleted history too): what a fresh load of the current source can be compared with.
    """
    names = [f"dds.{t}" for t in DDS_TABLES] + [f"marts.{m}" for m in MARTS]
    out: dict[str, pl.DataFrame] = {}
    with clickhouse_session(dsns) as client:
        for name in names:
            frame = query_frame(client, f"SELECT * EXCEPT (_version) FROM {name}")
            if live_only:
                if not name.startswith("dds.fact_"):
                    continue
                frame = frame.filter(~pl.col("is_deleted_in_source"))
            out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def snapshot_ods(dsn: str, *, live_only: bool = False) -> dict[str, list[tuple[object, ...]]]:
    """ODS tables without load metadata, sorted."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with psycopg.connect(dsn) as conn:
        for table in ODS_TABLES:
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'ods' AND table_name = %s"
                    " AND column_name NOT IN ('_loaded_at', '_deleted_at')"
                    " ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
            ]
            where = " WHERE _deleted_at IS NULL" if live_only and table != "performers" else ""
            if live_only and table in ("configs", "performers"):
                continue  # derived or append-only: kept whole by design
            out[table] = conn.execute(
                f"SELECT {', '.join(columns)} FROM ods.{table}{where} ORDER BY 1, 2, 3"
            ).fetchall()
    return out


def assert_same(actual: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    """Table by table equality (floats to 1e-9 relative)."""
    assert actual.keys() == expected.keys()
    for name, frame in expected.items():
        assert_frame_equal(actual[name], frame, rel_tol=1e-9, abs_tol=1e-9, check_dtypes=False)


def fresh_full_load(
    source: str, database: Callable[[str], str], home: Path
) -> tuple[Dsns, dict[str, pl.DataFrame]]:
    """Load ``source`` once into a new ODS and chDB; returns its DSNs and DDS snapshot."""
    dsns = Dsns(
        source=source,
        replica=source,
        ods=database("dwh_reference"),
        clickhouse=f"chdb://{home / 'reference-chdb'}",
    )
    settings = Settings(home=home, source_dsn=source, replica_dsn=source, ods_dsn=dsns.ods)
    migrate(dsns)
    run_etl(settings, dsns)
    return dsns, snapshot_dds(dsns)
