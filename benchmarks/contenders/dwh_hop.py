"""Contender: our replica → DDS hop, with the warehouse's own code and nothing else.

The source is read as the ETL's first load reads it: in slices of orders
(``dwh.extract.read_in_slices``, connectorx → Polars, the next slice read while the current
one is worked on). Each slice is cleaned with the ODS transforms (``dwh.ods.clean_snapshot``),
its DDS frames are built with ``dwh.etl.first_load_facts`` and inserted into chDB with
``dwh.dds.load_dds`` (Arrow batches through clickhouse-connect; ``rules=False`` since the frames
come straight from the builders, whose rules hold by construction, so only their structure is
checked); ``dim_performers`` is merged from the slices' parts at the end. The ODS round trip
through PostgreSQL is left out on purpose — it is the ``dwh_cli`` contender's business. The
phases are summed over the slices, each followed by a peak-RSS reading, so the report can say
where the time and the memory go. The hourly tables and marts are then refreshed and timed as
well, but kept out of the hop's throughput: they are ClickHouse-side SQL over the loaded facts,
not rows moved.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from contenders._common import SOURCE_TABLES, Result, Stopwatch, base_parser
from dwh.config import Settings
from dwh.dds import apply_migrations, load_dds, merge_dim_performers, refresh_hourly
from dwh.engines.clickhouse import open_client
from dwh.etl import first_load_facts
from dwh.extract import read_in_slices
from dwh.marts import refresh_marts
from dwh.ods import clean_snapshot


def main() -> None:
    """Run the hop once into a fresh chDB and report each step."""
    args = base_parser(__doc__ or "").parse_args()
    workdir = Path(args.workdir)
    settings = Settings(home=workdir / "home")
    client = open_client(f"chdb://{workdir / 'chdb'}")
    # Schema creation is a one-off, like the CREATE TABLEs of the ClickHouse contender.
    apply_migrations(client)
    watch = Stopwatch()
    read = read_in_slices(args.source_dsn, settings.first_load_slice_rows, settings.home / "spill")
    loaded_at = datetime.now(UTC)
    counts: Counter[str] = Counter()
    loaded: Counter[str] = Counter()
    insert_seconds: Counter[str] = Counter()
    performers: list[pl.LazyFrame] = []

    def insert(facts: dict[str, pl.DataFrame]) -> None:
        with watch.phase("insert (chDB)"):
            # One load_dds call per table only to time each one; each frame is dropped once
            # inserted, so memory falls as the load goes on.
            for name in list(facts):
                started = time.perf_counter()
                loaded.update(load_dds(client, {name: facts.pop(name)}, version=1, rules=False))
                insert_seconds[name] += time.perf_counter() - started

    slices = read.frames()
    for _ in read.slices:
        with watch.phase("extract (waiting for the next slice)"):
            raw = next(slices)
        counts.update({table: frame.height for table, frame in raw.items()})
        with watch.phase("clean (ODS transforms)"):
            batch = clean_snapshot(raw)  # first run: no parents known from an earlier load
            del raw  # the hop holds what it needs next, not every generation of the data
        with watch.phase("build (DDS transforms)"):
            facts = first_load_facts(batch, loaded_at, settings)
            del batch
            if (part := facts.pop("dim_performers", None)) is not None:
                performers.append(part.lazy())
        insert(facts)
    next(slices, None)
    with watch.phase("build (DDS transforms)"):
        dim = merge_dim_performers(performers).collect()
    insert({"dim_performers": dim})
    hop_seconds = watch.total()
    with watch.phase("refresh hourly + marts"):
        refresh_hourly(client)
        refresh_marts(client, sla_target_seconds=settings.sla_target_seconds)
    client.close()
    Result(
        contender="dwh_hop",
        rows=sum(counts[table] for table in SOURCE_TABLES),
        seconds=hop_seconds,
        pipelines=counts["pipeline"],
        rows_by_table={table: counts[table] for table in SOURCE_TABLES},
        phases=watch.phases,
        peak_rss_after=watch.peak_rss_after,
        notes={
            "slices": len(read.slices),
            "dds_rows": dict(loaded),
            "dds_rows_total": sum(loaded.values()),
            "insert_seconds_by_table": dict(insert_seconds),
        },
    ).emit()


if __name__ == "__main__":
    main()
