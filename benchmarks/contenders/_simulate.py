"""Not a contender: writes a benchmark source with ``dwh.simulate`` in a process of its own.

Simulating a million orders takes gigabytes, and a child process records its parent's peak
RSS as its own when it is spawned (Linux carries the old memory's high-water mark across
``exec``): the parent that spawns the contenders must therefore stay small, and the simulator
runs here instead.
"""

from __future__ import annotations

import time

import psycopg

from contenders._common import Result, base_parser, recreate_database
from dwh.simulate import simulate


def main() -> None:
    """Recreate the source database and simulate ``--orders`` orders into it."""
    parser = base_parser(__doc__ or "")
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    recreate_database(args.source_dsn)
    started = time.perf_counter()
    summary = simulate(args.source_dsn, orders=args.orders, seed=args.seed)
    seconds = time.perf_counter() - started
    with psycopg.connect(args.source_dsn, autocommit=True) as conn:
        # Fresh statistics and a set visibility map, as a long-lived source would have.
        conn.execute("VACUUM ANALYZE")
    Result(
        contender="simulate",
        rows=summary.orders + summary.pipelines + summary.stages + summary.deliveries,
        seconds=seconds,
        pipelines=summary.pipelines,
    ).emit()


if __name__ == "__main__":
    main()
