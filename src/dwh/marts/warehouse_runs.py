"""``marts.warehouse_runs``: one row per run of a warehouse job (``etl``, ``metrics``, ...).

Runs are recorded by :func:`dwh.observability.track_run` into ``dds.fact_warehouse_runs``
when they end, whatever their outcome; this mart serves them to dashboards with the derived
figures:

- ``status``: ``succeeded`` or ``failed`` (``message`` holds the error of a failed run);
- ``rows``: rows the run loaded into the DDS; ``quarantined``: rows it set aside;
- ``seconds``: ``finished_at - started_at``; ``rows_per_second``: ``rows / seconds``
  (NULL for an instantaneous run);
- ``replica_lag_seconds``: how far the replica was behind its primary when the run started
  (NULL when the job does not read the replica or it is not a standby).
"""

from __future__ import annotations

from dwh.marts._mart import Mart

MART = Mart(
    name="warehouse_runs",
    day_column="started_at",
    select="""
SELECT
    run_id,
    job,
    started_at,
    finished_at,
    status,
    rows,
    quarantined,
    dateDiff('microsecond', started_at, finished_at) / 1e6 AS seconds,
    if(seconds > 0, rows / seconds, NULL) AS rows_per_second,
    replica_lag_seconds,
    message
FROM dds.fact_warehouse_runs FINAL
""",
)
