"""Contender: the loader a first Airflow DAG would be — row by row, through pandas.

Fetch ``pipeline`` rows one ``fetchone()`` at a time with psycopg, collect them into a pandas
DataFrame, then ``INSERT`` them one statement per row into a table of another PostgreSQL
database, committing once at the end (the most forgiving choice for the naive loader). Measured
on a sample only (10k rows by default): its rate does not improve with size, and a full run
would take hours.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pandas as pd
import psycopg

from contenders._common import Result, Stopwatch, base_parser, drop_database, recreate_database

_COLUMNS = ("id", "order_id", "status", "message", "created_at", "started_at", "finished_at")
_TARGET_DDL = """
CREATE TABLE pipeline (
    id uuid PRIMARY KEY, order_id uuid NOT NULL, status varchar(15) NOT NULL,
    message varchar, created_at timestamptz NOT NULL, started_at timestamptz,
    finished_at timestamptz
)
"""


def main() -> None:
    """Move a sample of pipelines row by row and report the rate."""
    parser = base_parser(__doc__ or "")
    parser.add_argument("--rows", type=int, default=10_000, help="Sample size.")
    parser.add_argument("--target-database", required=True, help="Created, then dropped.")
    args = parser.parse_args()
    target_dsn = urlsplit(args.source_dsn)._replace(path=f"/{args.target_database}").geturl()
    recreate_database(target_dsn)
    try:
        with psycopg.connect(target_dsn) as conn:
            conn.execute(_TARGET_DDL)
        watch = Stopwatch()
        columns = ", ".join(_COLUMNS)
        with psycopg.connect(args.source_dsn) as source, psycopg.connect(target_dsn) as target:
            with watch.phase("fetch"):
                cur = source.cursor()
                cur.execute(f"SELECT {columns} FROM pipeline LIMIT %s", (args.rows,))
                rows = []
                while (row := cur.fetchone()) is not None:
                    rows.append(row)
            with watch.phase("dataframe"):
                frame = pd.DataFrame(rows, columns=list(_COLUMNS))
            with watch.phase("insert"):
                insert = f"INSERT INTO pipeline ({columns}) VALUES ({', '.join(['%s'] * 7)})"
                out = target.cursor()
                for record in frame.itertuples(index=False):
                    # pandas turns NULL timestamps into NaT, which psycopg cannot send.
                    out.execute(insert, [None if pd.isna(v) else v for v in record])
                target.commit()
        Result(
            contender="naive",
            rows=len(frame),
            seconds=watch.total(),
            pipelines=len(frame),
            rows_by_table={"pipeline": len(frame)},
            phases=watch.phases,
            peak_rss_after=watch.peak_rss_after,
        ).emit()
    finally:
        drop_database(target_dsn)


if __name__ == "__main__":
    main()
