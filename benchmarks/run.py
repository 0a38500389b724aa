"""The benchmark: every contender side by side in one run; prints a table, writes the report.

    python benchmarks/run.py --orders 900000

Simulates the sources into fresh PostgreSQL databases (``dwh_bench_src_<orders>``), runs each
contender in its own process (so peak RSS is per contender, read from ``wait4``), prints the
results and writes ``docs/BENCHMARKS.md``. Part 1 measures the replica → DDS hop against
ClickHouse's own ``postgresql()`` pull, a naive row-by-row loader and dlt, and runs the hop at
a second, smaller size to show how its memory scales. Part 2 measures the whole ``dwh run etl``
process against the engines moving the same rows themselves. Databases and scratch
directories it creates are dropped at the end (``--keep-sources`` keeps the sources for the
next run).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from contenders._common import (  # noqa: E402 (needs the path above)
    count_rows,
    database_of,
    drop_database,
    parse_result,
    with_database,
)
from report import render_report  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
PACKAGES = (
    "polars",
    "connectorx",
    "pyarrow",
    "chdb",
    "clickhouse-connect",
    "psycopg",
    "dlt",
    "duckdb",
    "pandas",
)


@dataclass
class Source:
    """One simulated source database."""

    label: str
    orders: int
    dsn: str
    rows: dict[str, int] = field(default_factory=dict)
    simulate_seconds: float | None = None  # None when an existing database was reused

    @property
    def total_rows(self) -> int:
        """Rows in the five tables."""
        return sum(self.rows.values())


@dataclass
class Run:
    """One contender on one source: its own result plus what the parent measured."""

    key: str
    contender: str
    source: Source
    result: dict[str, Any]
    process_seconds: float
    peak_rss_mib: float
    #: CPU seconds (user + system) of the contender and the processes it waited for.
    cpu_seconds: float = 0.0
    #: CPU seconds the whole machine was busy meanwhile.
    machine_cpu_seconds: float = 0.0
    #: CPU seconds of the PostgreSQL backends serving the contender (see :class:`BackendCpu`).
    server_cpu_seconds: float = 0.0

    @property
    def other_cpu_seconds(self) -> float:
        """CPU seconds of everything else on the machine meanwhile: interference."""
        return max(self.machine_cpu_seconds - self.cpu_seconds - self.server_cpu_seconds, 0.0)

    @property
    def seconds(self) -> float:
        """The contender's work time."""
        return float(self.result["seconds"])

    @property
    def rows_per_second(self) -> float:
        """Source rows moved per second of work."""
        return float(self.result["rows"]) / self.seconds

    @property
    def pipelines_per_second(self) -> float:
        """Pipelines moved per second of work."""
        return float(self.result["pipelines"]) / self.seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=900_000,
        help="Orders of the full source (~1.12 pipelines each).",
    )
    parser.add_argument(
        "--small-fraction",
        type=float,
        default=0.25,
        help="Size of the second hop run, as a fraction of --orders (memory scaling).",
    )
    parser.add_argument(
        "--etl-orders", type=int, default=300_000, help="Orders of the source for part 2."
    )
    parser.add_argument(
        "--naive-rows", type=int, default=10_000, help="Sample size of the naive loader."
    )
    parser.add_argument("--seed", type=int, default=0, help="Simulator seed.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs per contender (fastest kept).")
    parser.add_argument(
        "--parts", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="Parts to run."
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="Any DSN of the PostgreSQL server.")
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO_DIR / "docs" / "BENCHMARKS.md",
        help="Report to write ('-' to skip).",
    )
    parser.add_argument(
        "--keep-sources",
        action="store_true",
        help="Reuse existing source databases and keep them afterwards (faster re-runs).",
    )
    return parser.parse_args(argv)


def prepare_source(
    label: str, orders: int, args: argparse.Namespace, sources: list[Source], root: Path
) -> Source:
    """Simulate ``orders`` orders into ``dwh_bench_src_<orders>_s<seed>`` (or reuse it).

    The source is appended to ``sources`` before anything is created, so a failure half-way
    still leaves it on the list of databases to drop.
    """
    dsn = with_database(args.pg, f"dwh_bench_src_{orders}_s{args.seed}")
    source = Source(label, orders, dsn)
    sources.append(source)
    if args.keep_sources and _has_rows(dsn):
        print(f"reusing {database_of(dsn)}", flush=True)
    else:
        print(f"simulating {orders:,} orders into {database_of(dsn)} …", flush=True)
        extra = ["--orders", str(orders), "--seed", str(args.seed)]
        result, *_ = spawn("_simulate", source, root / f"simulate-{label}", extra)
        source.simulate_seconds = float(result["seconds"])
    source.rows = count_rows(dsn)
    return source


def _has_rows(dsn: str) -> bool:
    try:
        return count_rows(dsn)["order"] > 0
    except psycopg.Error:
        return False


def spawn(
    module: str, source: Source, workdir: Path, extra: list[str]
) -> tuple[dict[str, Any], float, float, float]:
    """Run ``contenders.<module>`` in a fresh process.

    Returns its result, wall seconds, peak RSS (MiB) and CPU seconds.
    """
    workdir.mkdir(parents=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        f"contenders.{module}",
        "--source-dsn",
        source.dsn,
        "--workdir",
        str(workdir),
        *extra,
    ]
    log_path = workdir / "stderr.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert process.stdout is not None
        stdout = process.stdout.read()
        # wait4, not Popen.wait: it hands back this child's own rusage (ru_maxrss covers the
        # child and the processes it waited for, e.g. the `dwh` CLI), so RSS is per contender.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{module} failed ({process.returncode}):\n" + "\n".join(tail))
    cpu = usage.ru_utime + usage.ru_stime
    return parse_result(stdout), wall, usage.ru_maxrss / 1024, cpu


@dataclass(frozen=True)
class Plan:
    """One contender to run on one source."""

    key: str
    module: str
    source: Source
    extra: tuple[str, ...] = ()


def measure(plans: list[Plan], root: Path, repeat: int) -> dict[str, Run]:
    """Run every plan ``repeat`` times, round-robin; keep each one's fastest run.

    Round-robin, so a busy spell on the machine hits one attempt of several contenders rather
    than every attempt of one; the fastest, not the median, because other work on a shared
    machine only ever adds time.
    """
    runs: dict[str, list[Run]] = {plan.key: [] for plan in plans}
    for attempt in range(repeat):
        for plan in plans:
            source = plan.source
            print(f"  {plan.key} ({source.label}, {source.orders:,} orders) …", end=" ", flush=True)
            workdir = root / f"{plan.key}-{attempt}"
            backends = BackendCpu()
            backends.start()
            busy_before = machine_busy_seconds()
            try:
                result, wall, rss, cpu = spawn(plan.module, source, workdir, list(plan.extra))
            finally:
                machine_cpu = machine_busy_seconds() - busy_before
                backends.done.set()
                backends.join()
            run = Run(plan.key, plan.module, source, result, wall, rss, cpu, machine_cpu)
            run.server_cpu_seconds = backends.seconds
            rate = f"{run.rows_per_second:,.0f} rows/s"
            print(f"{run.seconds:.2f} s, {rate}, {rss:,.0f} MiB", flush=True)
            runs[plan.key].append(run)
            shutil.rmtree(workdir, ignore_errors=True)
    return {key: min(attempts, key=lambda r: r.seconds) for key, attempts in runs.items()}


class BackendCpu(threading.Thread):
    """CPU seconds of the PostgreSQL backends serving the benchmark's own databases.

    Backends are found by their process title (``postgres: … <database> …``) and sampled every
    0.2 s; a backend's last 0.2 s before it exits can be missed, so the figure is a close lower
    bound. It separates the server's work for a contender from other work on the machine.
    """

    def __init__(self, marker: str = " dwh_bench_") -> None:
        super().__init__(daemon=True)
        self.marker = marker.encode()
        self.ticks: dict[int, int] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        """Record the CPU ticks of every matching backend alive now."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if self.marker not in (entry / "cmdline").read_bytes():
                    continue
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # the process ended between listing and reading
            fields = stat.rsplit(")", 1)[1].split()
            self.ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime

    def run(self) -> None:
        """Sample until :attr:`done` is set, then once more."""
        while not self.done.wait(0.2):
            self.sample()
        self.sample()

    @property
    def seconds(self) -> float:
        """CPU seconds seen so far."""
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``, USER_HZ ticks)."""
    with Path("/proc/stat").open() as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal …: busy = all but idle and iowait.
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def host() -> dict[str, str]:
    """The machine the numbers were measured on: CPU, memory, OS, Python."""
    cpu = "unknown"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with Path("/proc/meminfo").open() as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "Memory": f"{memory_kib / 1024 / 1024:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
    }


def machine(pg_dsn: str) -> dict[str, str]:
    """What the numbers were measured on: :func:`host`, the PostgreSQL server, the packages."""
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (missing)")
    return host() | {
        "PostgreSQL": f"{row[0] if row else '?'} on 127.0.0.1 (TCP loopback)",
        "Packages": ", ".join(versions),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="dwh-bench-"))
    sources: list[Source] = []
    runs: dict[str, Run] = {}
    try:
        plans: list[Plan] = []
        if 1 in args.parts:
            full = prepare_source("full", args.orders, args, sources, root)
            small_orders = max(1, round(args.orders * args.small_fraction))
            small = prepare_source("small", small_orders, args, sources, root)
            naive = ("--rows", str(args.naive_rows), "--target-database", "dwh_bench_naive")
            plans += [
                Plan("hop", "dwh_hop", full),
                Plan("ch_pull", "clickhouse_pull", full),
                Plan("cx_read", "connectorx_read", full),
                Plan("dlt", "dlt_load", full),
                Plan("naive", "naive", full, naive),
                Plan("hop_small", "dwh_hop", small),
            ]
        if 2 in args.parts:
            etl = prepare_source("etl", args.etl_orders, args, sources, root)
            plans += [
                Plan("cli", "dwh_cli", etl, ("--ods-database", "dwh_bench_ods")),
                Plan("ch_pull_etl", "clickhouse_pull", etl),
                Plan("pg_copy_etl", "pg_copy", etl, ("--target-database", "dwh_bench_copy")),
            ]
        runs = measure(plans, root, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if not args.keep_sources:
            for source in {s.dsn for s in sources}:
                drop_database(source)
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = render_report(
        runs=runs,
        sources=sources,
        machine=machine(args.pg),
        command=command.strip(),
        started_at=started_at,
    )
    print()
    print(report.console)
    if str(args.output) != "-":
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report.markdown, encoding="utf-8")
        print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
