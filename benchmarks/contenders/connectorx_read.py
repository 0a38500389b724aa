"""Contender: connectorx reading the five source tables into Arrow, and nothing else.

Not a loader: the floor under every loader that reads with connectorx (dlt's ``connectorx``
backend and the hop alike) — ``SELECT *`` of each table whole, one connection, Arrow tables
built and dropped. Whatever a loader does with the rows comes on top of this.
"""

from __future__ import annotations

import connectorx as cx

from contenders._common import SOURCE_TABLES, Result, Stopwatch, base_parser
from dwh.engines.postgres import connectorx_url


def main() -> None:
    """Read every source table once and report the time of the reads."""
    args = base_parser(__doc__ or "").parse_args()
    url = connectorx_url(args.source_dsn)
    watch = Stopwatch()
    counts: dict[str, int] = {}
    for table in SOURCE_TABLES:
        with watch.phase(table):
            arrow = cx.read_sql(url, f'SELECT * FROM "{table}"', return_type="arrow")
        counts[table] = arrow.num_rows
        del arrow
    Result.of_tables("connectorx_read", counts, watch.total(*SOURCE_TABLES), watch).emit()


if __name__ == "__main__":
    main()
