"""Metrics ingest: Prometheus HTTP API → ``dds.fact_metrics`` → ``marts.api_performance_hourly``.

Typical run (what ``dwh run metrics`` and the Prefect flow ``metrics`` do)::

    report = run_metrics(settings, dsns)

The pieces are public for notebooks and tests: :func:`query_range` (the HTTP edge, raw
samples), :func:`build_fact_metrics` (pure transform), :func:`load_fact_metrics` (ClickHouse
edge), :func:`plan_windows` (the bounded batches) and :func:`refresh_api_performance`.
"""

from dwh.metrics._prometheus import PrometheusQueryError, query_range
from dwh.metrics._state import read_watermarks, state_key
from dwh.metrics.fact_metrics import FactMetricsSchema, build_fact_metrics, load_fact_metrics
from dwh.metrics.ingest import (
    DEFAULT_QUERIES,
    MetricsReport,
    align,
    plan_windows,
    refresh_api_performance,
    run_metrics,
    run_metrics_job,
)

__all__ = [
    "DEFAULT_QUERIES",
    "FactMetricsSchema",
    "MetricsReport",
    "PrometheusQueryError",
    "align",
    "build_fact_metrics",
    "load_fact_metrics",
    "plan_windows",
    "query_range",
    "read_watermarks",
    "refresh_api_performance",
    "run_metrics",
    "run_metrics_job",
    "state_key",
]
