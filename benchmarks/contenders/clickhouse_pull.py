"""Contender: ClickHouse (chDB) pulling the five source tables itself with ``postgresql()``.

A plain copy — ``INSERT INTO src.t SELECT * FROM postgresql(…)`` into ``MergeTree`` tables, no
transforms — is the ceiling for "PostgreSQL rows into ClickHouse": the engine's own C++
reader and writer, no Python in the row path. Tables are created empty first (the types
ClickHouse infers from PostgreSQL) so the timed statements only move rows.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import clickhouse_connect

from contenders._common import SOURCE_TABLES, Result, Stopwatch, base_parser


def postgresql_function(dsn: str, table: str) -> str:
    """The ``postgresql(host:port, db, table, user, password)`` table function for ``dsn``."""
    parts = urlsplit(dsn)
    host = parts.hostname or "127.0.0.1"
    address = f"{host}:{parts.port or 5432}"
    database = parts.path.lstrip("/")
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password or "")
    return f"postgresql('{address}', '{database}', '{table}', '{user}', '{password}')"


def main() -> None:
    """Copy the source tables into a fresh chDB and report the time of the inserts."""
    args = base_parser(__doc__ or "").parse_args()
    chdb_path = Path(args.workdir) / "chdb"
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    client.command("CREATE DATABASE IF NOT EXISTS src")
    for table in SOURCE_TABLES:
        client.command(
            f"CREATE TABLE src.`{table}` ENGINE = MergeTree ORDER BY tuple() "
            f"EMPTY AS SELECT * FROM {postgresql_function(args.source_dsn, table)}"
        )
    watch = Stopwatch()
    counts: dict[str, int] = {}
    for table in SOURCE_TABLES:
        with watch.phase(table):
            client.command(
                f"INSERT INTO src.`{table}` "
                f"SELECT * FROM {postgresql_function(args.source_dsn, table)}"
            )
        counts[table] = int(client.command(f"SELECT count() FROM src.`{table}`"))
    started = time.perf_counter()
    client.close()
    watch.phases["close"] = time.perf_counter() - started
    Result.of_tables("clickhouse_pull", counts, watch.total(*SOURCE_TABLES), watch).emit()


if __name__ == "__main__":
    main()
