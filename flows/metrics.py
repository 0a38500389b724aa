"""Prefect flow ``metrics``: Prometheus → ``dds.fact_metrics`` → marts, thin over ``dwh.metrics``.

``python flows/metrics.py`` serves it as a deployment that runs every five minutes; ``dwh run
metrics`` runs it once (through this flow when ``PREFECT_API_URL`` is set).
"""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from dwh.config import get_settings
from dwh.engines.embedded import Dsns, start_embedded
from dwh.metrics import MetricsReport, run_metrics
from dwh.tasks import migrate, retried

# Prometheus restarting or the embedded warehouse busy are worth a retry; the watermark makes
# a retried run continue where the failed one stopped.
SCHEDULE = timedelta(minutes=5)


@retried
def ingest(dsns: Dsns) -> MetricsReport:
    """Fetch every configured expression past its watermark and load it."""
    return run_metrics(get_settings(), dsns, get_run_logger().info)


@flow(name="metrics", log_prints=True)
def metrics() -> MetricsReport:
    """One metrics run over the configured (or embedded) engines."""
    dsns = start_embedded(get_settings())
    migrate(dsns)
    return ingest(dsns)


if __name__ == "__main__":
    metrics.serve(name="metrics", interval=SCHEDULE)
