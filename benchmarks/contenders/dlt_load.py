"""Contender: dlt's ``sql_database`` source (connectorx backend) into its embedded DuckDB.

The five source tables, as the dlt docs suggest for fast SQL extraction: Arrow batches from
connectorx, dlt's normalize step (parquet files) and its DuckDB loader. Telemetry is switched
off before dlt is imported: the benchmark must not contact anything beyond loopback.
"""

from __future__ import annotations

import os
from pathlib import Path

from contenders._common import SOURCE_TABLES, Result, Stopwatch, base_parser


def main() -> None:
    """Run one dlt pipeline from scratch and report its wall time."""
    args = base_parser(__doc__ or "").parse_args()
    workdir = Path(args.workdir)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    # dlt looks for .dlt/ config in the working directory; keep it in the scratch dir.
    os.chdir(workdir)

    import dlt
    from dlt.sources.sql_database import sql_database

    watch = Stopwatch()
    with watch.phase("run"):
        source = sql_database(
            credentials=args.source_dsn, table_names=list(SOURCE_TABLES), backend="connectorx"
        )
        pipeline = dlt.pipeline(
            pipeline_name="bench",
            destination=dlt.destinations.duckdb(str(workdir / "bench.duckdb")),
            dataset_name="src",
            pipelines_dir=str(workdir / "pipelines"),
        )
        pipeline.run(source)
    trace = pipeline.last_trace
    for step in trace.steps:
        if step.finished_at is not None:
            watch.phases[f"dlt {step.step}"] = (step.finished_at - step.started_at).total_seconds()
    normalized = trace.last_normalize_info.row_counts if trace.last_normalize_info else {}
    counts = {table: int(normalized.get(table, 0)) for table in SOURCE_TABLES}
    Result.of_tables("dlt", counts, watch.phases["run"], watch).emit()


if __name__ == "__main__":
    main()
