"""Sustained ingest from a Kafka-protocol broker into ODS (PostgreSQL) and DDS (chDB).

Publishes N valid records (triggers and results, 4:1, spread over a month) to a fresh tansu
broker, then runs the events consumer bounded to those N records and reports records/s and the
process's resident memory, sampled every half second (flat memory = no growth with N).

    python benchmarks/events/run.py --records 2000000 \
        --postgres postgresql://postgres@127.0.0.1:5432/postgres

The consumer's throughput is measured from its first batch (the group join is excluded and
reported separately). Defaults are the shipped settings (batch 50,000 records, refresh every
30 s), so the figure includes the hourly/mart refreshes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg

from dwh.config import Settings
from dwh.dds import apply_migrations
from dwh.engines.clickhouse import open_client
from dwh.engines.embedded import Dsns
from dwh.engines.postgres import with_database
from dwh.events import EmbeddedBroker, EventMetrics, ensure_topics, publish, run_events
from dwh.ods import upgrade_ods

START = datetime(2026, 10, 1, tzinfo=UTC)
STAGES = ["start_pipeline", "estimate_cost", "assign_performer", "perform_delivery"]


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def records(count: int, triggers: str, results: str) -> pl.DataFrame:
    """``count`` valid records: every fifth a result, the rest triggers, one month of times."""
    ids = pl.Series("id", [str(uuid.UUID(int=i * 7919 + 1)) for i in range(count)])
    frame = pl.DataFrame({"i": pl.int_range(0, count, eager=True), "id": ids})
    is_result = pl.col("i") % 5 == 4
    stage = pl.col("i").mod(4).replace_strict(dict(enumerate(STAGES)), return_dtype=pl.String)
    result = pl.concat_str(
        pl.lit('{"stage_id":"'), pl.col("id"), pl.lit('","status":"succeeded","message":null}')
    )
    trigger = pl.concat_str(
        pl.lit('{"pipeline_id":"'), pl.col("id"), pl.lit('","stage_name":"'), stage, pl.lit('"}')
    )
    return frame.select(
        pl.when(is_result).then(pl.lit(results)).otherwise(pl.lit(triggers)).alias("topic"),
        pl.when(is_result).then(result).otherwise(trigger).alias("value"),
        (pl.lit(START) + pl.duration(seconds=pl.col("i") * (30 * 86_400) // count)).alias(
            "timestamp"
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "DWH_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="A PostgreSQL server (maintenance database); a scratch database is made on it.",
    )
    parser.add_argument("--batch-size", type=int, default=50_000)
    args = parser.parse_args()

    database = f"bench_events_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    ods = with_database(args.postgres, database)
    workdir = Path(tempfile.mkdtemp(prefix="dwh-bench-events-"))
    chdb = f"chdb://{workdir / 'chdb'}"
    try:
        upgrade_ods(ods)
        client = open_client(chdb)
        apply_migrations(client)
        client.close()
        with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
            settings = Settings(
                home=workdir,
                ods_dsn=ods,
                clickhouse_dsn=chdb,
                kafka_bootstrap_servers=broker.bootstrap_servers,
                kafka_session_timeout_ms=6_000,
                events_batch_size=args.batch_size,
            )
            ensure_topics(
                broker.bootstrap_servers,
                {settings.topic_name_triggers: 1, settings.topic_name_results: 1},
            )
            frame = records(args.records, settings.topic_name_triggers, settings.topic_name_results)
            started = time.perf_counter()
            publish(broker.bootstrap_servers, frame)
            print(f"published {frame.height:,} records in {time.perf_counter() - started:.1f} s")
            del frame

            metrics = EventMetrics()
            samples: list[tuple[float, float, int]] = []
            done = threading.Event()
            first_batch: list[float] = []

            def sample() -> None:
                while not done.wait(0.5):
                    consumed = int(metrics.snapshot()["records_consumed"])
                    if consumed and not first_batch:
                        first_batch.append(time.perf_counter())
                    samples.append((time.perf_counter(), _rss_mib(), consumed))

            sampler = threading.Thread(target=sample, daemon=True)
            rss_before = _rss_mib()
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            sampler.start()
            report = run_events(
                settings,
                Dsns(ods, ods, ods, chdb),
                max_messages=args.records,
                max_seconds=3_600,
                metrics=metrics,
            )
            finished = time.perf_counter()
            load_after = os.getloadavg()[0]
            done.set()
            sampler.join()
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    first = first_batch[0] if first_batch else started
    # The first sample already holds the first batch: count throughput from it.
    first_count = next((c for _, _, c in samples if c), 0)
    steady = (report.records - first_count) / max(finished - first, 1e-9)
    rss = [r for _, r, c in samples if c]
    print(f"consumer: {report}")
    print(f"group join and first batch: {first - started:.1f} s")
    print(f"sustained: {steady:,.0f} records/s from the first batch on")
    print(f"end to end: {report.records / (finished - started):,.0f} records/s")
    # Other work on the machine takes CPU from the consumer and PostgreSQL: say how much.
    print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after")
    if rss:
        quarter = max(len(rss) // 4, 1)
        print(
            f"RSS MiB: before {rss_before:.0f}, first quarter max {max(rss[:quarter]):.0f},"
            f" last quarter max {max(rss[-quarter:]):.0f}, peak {max(rss):.0f}"
        )


if __name__ == "__main__":
    main()
