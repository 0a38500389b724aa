"""Prefect flow ``events``: a bounded consumption of the trigger and result topics.

For schedules: each run consumes at most ``max_messages`` records or ``max_seconds`` seconds,
writes them to ``ods.events`` and ``dds.fact_events``, commits their offsets and refreshes
the event aggregates. The long-running alternative is ``dwh consume``.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from dwh.config import get_settings
from dwh.engines.embedded import Dsns, start_embedded
from dwh.events import ConsumeReport, run_events
from dwh.tasks import migrate, retried

# A broker or database restarting deserves retries; committed offsets make them safe.


@retried
def consume(dsns: Dsns, max_messages: int | None, max_seconds: float | None) -> ConsumeReport:
    """Consume one bounded batch run into ODS and DDS and refresh the event aggregates."""
    report = run_events(
        get_settings(),
        dsns,
        max_messages=max_messages,
        max_seconds=max_seconds,
        progress=get_run_logger().info,
    )
    get_run_logger().info("events: %s", report)
    return report


@flow(name="events", log_prints=True)
def events(max_messages: int | None = 1_000_000, max_seconds: float | None = 60.0) -> ConsumeReport:
    """One bounded events run over the configured (or embedded) engines."""
    dsns = start_embedded(get_settings())
    migrate(dsns)
    return consume(dsns, max_messages, max_seconds)


if __name__ == "__main__":
    events()
