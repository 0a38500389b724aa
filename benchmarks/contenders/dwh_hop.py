"""Contender: our replica → DDS hop, with the warehouse's own code and nothing else.

Extract the source as the ETL's first run does (``dwh.extract.extract_changes`` with no
cursors: whole tables, connectorx → Polars), clean it with the ODS transforms
(``dwh.ods.clean_snapshot``), build the DDS facts with ``dwh.dds.build_dds`` and insert them
into chDB with ``dwh.dds.load_dds`` (Arrow batches through clickhouse-connect; ``rules=False``
since the frames come straight from ``build_dds``, whose rules hold by construction, so only
their structure is checked). The ODS round trip through PostgreSQL is left out on purpose — it
is the ``dwh_cli`` contender's business; here the cleaned frames are handed to the DDS builder
as a first load into an empty ODS would return them (every row new, none deleted). Each step
is timed and followed by a peak-RSS reading, so the report can say where the time and the
memory go. The hourly tables and marts are then refreshed and timed as well, but kept out of
the hop's throughput: they are ClickHouse-side SQL over the loaded facts, not rows moved.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from contenders._common import SOURCE_TABLES, Result, Stopwatch, base_parser
from dwh.config import Settings
from dwh.dds import apply_migrations, build_dds, load_dds, refresh_hourly
from dwh.engines.clickhouse import open_client
from dwh.extract import extract_changes
from dwh.marts import refresh_marts
from dwh.ods import OdsBatch, build_performers, clean_snapshot


def first_load_frames(batch: OdsBatch) -> dict[str, pl.DataFrame]:
    """The frames ``read_ods`` would return after loading ``batch`` into an empty ODS.

    Every row is new (loaded now, deleted never) and ``performers`` is derived from the
    deliveries, as the ODS loader derives it.
    """
    loaded_at = pl.lit(datetime.now(UTC), dtype=pl.Datetime("us", "UTC"))
    metadata = [
        loaded_at.alias("_loaded_at"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at"),
    ]
    frames = {name: frame.with_columns(metadata) for name, frame in batch.tables.items()}
    frames["performers"] = (
        build_performers(batch.tables["deliveries"].lazy())
        .with_columns(loaded_at.alias("_loaded_at"))
        .collect()
    )
    return frames


def main() -> None:
    """Run the hop once into a fresh chDB and report each step."""
    args = base_parser(__doc__ or "").parse_args()
    workdir = Path(args.workdir)
    settings = Settings(home=workdir / "home")
    client = open_client(f"chdb://{workdir / 'chdb'}")
    # Schema creation is a one-off, like the CREATE TABLEs of the ClickHouse contender.
    apply_migrations(client)
    watch = Stopwatch()
    with watch.phase("extract"):
        raw = extract_changes(args.source_dsn, cursors={}).frames
    counts = {table: raw[table].height for table in SOURCE_TABLES}
    with watch.phase("clean (ODS transforms)"):
        # First run: no parents known from an earlier load, as in `dwh run etl` on an empty ODS.
        ods = first_load_frames(clean_snapshot(raw))
        del raw  # the hop holds what it needs next, not every generation of the data
    with watch.phase("build (DDS transforms)"):
        lazy = build_dds(
            {name: frame.lazy() for name, frame in ods.items()},
            order_class_bands=settings.order_class_bands,
        )
        facts = dict(zip(lazy, pl.collect_all(list(lazy.values())), strict=True))
        del ods, lazy
    loaded: dict[str, int] = {}
    insert_seconds: dict[str, float] = {}
    with watch.phase("insert (chDB)"):
        # One load_dds call per table (it loops over tables itself) only to time each one;
        # each frame is dropped once inserted, so memory falls as the load goes on.
        for name in list(facts):
            frame = facts.pop(name)
            started = time.perf_counter()
            loaded |= load_dds(client, {name: frame}, version=1, rules=False)
            insert_seconds[name] = time.perf_counter() - started
    hop_seconds = watch.total()
    with watch.phase("refresh hourly + marts"):
        refresh_hourly(client)
        refresh_marts(client, sla_target_seconds=settings.sla_target_seconds)
    client.close()
    Result(
        contender="dwh_hop",
        rows=sum(counts.values()),
        seconds=hop_seconds,
        pipelines=counts["pipeline"],
        rows_by_table=counts,
        phases=watch.phases,
        peak_rss_after=watch.peak_rss_after,
        notes={
            "dds_rows": loaded,
            "dds_rows_total": sum(loaded.values()),
            "insert_seconds_by_table": insert_seconds,
        },
    ).emit()


if __name__ == "__main__":
    main()
