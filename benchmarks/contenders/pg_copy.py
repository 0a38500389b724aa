"""Contender: PostgreSQL copying the five source tables into another database by itself.

``COPY t TO STDOUT`` on one connection streamed into ``COPY t FROM STDIN`` on another (psycopg's
copy objects, binary format, block by block — no row ever becomes a Python object): the ceiling
for "the same rows into a PostgreSQL ODS". The target gets the source's DDL (primary keys and
indexes, so it pays for index maintenance as the ODS does) without the foreign keys: the ODS has
none (children of hard-deleted rows must survive), and their per-row triggers would make this
reference slower than a real ODS load has to be.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg

from contenders._common import (
    SOURCE_TABLES,
    Result,
    Stopwatch,
    base_parser,
    count_rows,
    drop_database,
    recreate_database,
)
from dwh.simulate import create_source_schema

_FOREIGN_KEYS = {
    "pipeline": "pipeline_order_id_fkey",
    "stage": "stage_pipeline_id_fkey",
    "delivery": "delivery_pipeline_id_fkey",
}


def copy_table(source: psycopg.Connection, target: psycopg.Connection, table: str) -> None:
    """Stream one table from ``source`` into ``target`` (uncommitted)."""
    with (
        source.cursor() as out_cur,
        target.cursor() as in_cur,
        out_cur.copy(f'COPY "{table}" TO STDOUT (FORMAT binary)') as out,
        in_cur.copy(f'COPY "{table}" FROM STDIN (FORMAT binary)') as into,
    ):
        for block in out:
            into.write(block)


def main() -> None:
    """Copy the source into a fresh database and report the time of the copies."""
    parser = base_parser(__doc__ or "")
    parser.add_argument("--target-database", required=True, help="Created, then dropped.")
    args = parser.parse_args()
    target_dsn = urlsplit(args.source_dsn)._replace(path=f"/{args.target_database}").geturl()
    recreate_database(target_dsn)
    try:
        create_source_schema(target_dsn)
        with psycopg.connect(target_dsn, autocommit=True) as conn:
            for table, constraint in _FOREIGN_KEYS.items():
                conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
        watch = Stopwatch()
        with psycopg.connect(args.source_dsn) as source, psycopg.connect(target_dsn) as target:
            for table in SOURCE_TABLES:
                with watch.phase(table):
                    copy_table(source, target, table)
            with watch.phase("commit"):
                target.commit()
        # Counted afterwards, untimed: COPY FROM reports no row count through psycopg here.
        counts = count_rows(target_dsn)
        Result.of_tables("pg_copy", counts, watch.total(), watch).emit()
    finally:
        drop_database(target_dsn)


if __name__ == "__main__":
    main()
