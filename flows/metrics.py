"""Prefect flow ``metrics``: Prometheus → ``dds.fact_metrics`` → marts, thin over ``dwh.metrics``.

``python flows/metrics.py`` serves it as a deployment that runs every five minutes; ``dwh run
metrics`` runs it once (through this flow when ``PREFECT_API_URL`` is set).
"""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dwh import etl
from dwh.config import get_settings
from dwh.engines.embedded import Dsns, start_embedded
from dwh.metrics import MetricsReport, run_metrics

# Prometheus restarting or the embedded warehouse busy are worth a retry; the watermark makes
# a retried run continue where the failed one stopped.
RETRIES = 3
RETRY_DELAYS: list[float] = [10, 30, 60]
SCHEDULE = timedelta(minutes=5)


@task(cache_policy=NO_CACHE, persist_result=False)
def migrate(dsns: Dsns) -> list[str]:
    """Apply pending ODS and ClickHouse migrations."""
    return etl.migrate(dsns)


@task(
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=0.5,
)
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
