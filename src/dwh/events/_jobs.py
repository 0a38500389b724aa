"""The events path as jobs: a bounded run, and the embedded replay used by the demo.

``dwh consume`` runs :class:`EventConsumer` until stopped; ``dwh run events`` and the Prefect
flow ``events`` run it bounded (:func:`run_events`). With no broker configured, the demo and
``dwh simulate --kafka`` publish the simulated records to an embedded in-memory broker and
consume them in the same process (:func:`replay_embedded`): the broker's log lives only as
long as the process, so publishing and consuming must happen together.
"""

from __future__ import annotations

import logging
import os
import threading

import polars as pl

from dwh.config import Settings
from dwh.engines.embedded import Dsns
from dwh.engines.postgres import connect, connectorx_url
from dwh.events._broker import EmbeddedBroker, ensure_topics
from dwh.events._consumer import ConsumeReport, EventConsumer, Progress
from dwh.events._metrics import EventMetrics
from dwh.events._producer import publish
from dwh.simulate import build_events

log = logging.getLogger("dwh.events")

# Bounded runs give up on a failing sink after these retries and let the scheduler retry.
BOUNDED_SINK_RETRIES = 3


def run_events(
    settings: Settings,
    dsns: Dsns,
    *,
    max_messages: int | None = None,
    max_seconds: float | None = None,
    bootstrap_servers: str | None = None,
    stop: threading.Event | None = None,
    metrics: EventMetrics | None = None,
    progress: Progress | None = None,
) -> ConsumeReport:
    """Consume the event topics into ODS and DDS until a limit is reached, then refresh the
    event aggregates and return. Retries of a failing write are bounded."""
    consumer = EventConsumer(
        settings,
        ods_dsn=dsns.ods,
        clickhouse_dsn=dsns.clickhouse,
        bootstrap_servers=bootstrap_servers,
        metrics=metrics,
        progress=progress,
        sink_retries=BOUNDED_SINK_RETRIES,
    )
    return consumer.run(max_messages=max_messages, max_seconds=max_seconds, stop=stop)


def run_events_job(
    *, max_messages: int | None, max_seconds: float | None, progress: Progress | None = None
) -> ConsumeReport:
    """``dwh run events``: through the Prefect flow if ``PREFECT_API_URL`` is set, else direct."""
    from dwh.config import get_settings
    from dwh.engines.embedded import start_embedded
    from dwh.etl import migrate
    from dwh.orchestration import load_flows_module

    if os.environ.get("PREFECT_API_URL"):
        report: ConsumeReport = load_flows_module("events").events(
            max_messages=max_messages, max_seconds=max_seconds
        )
        return report
    settings = get_settings()
    dsns = start_embedded(settings)
    migrate(dsns)
    return run_events(
        settings, dsns, max_messages=max_messages, max_seconds=max_seconds, progress=progress
    )


def source_events(source_dsn: str, settings: Settings) -> pl.DataFrame:
    """The records behind every stage row of the source (see ``dwh.simulate``)."""
    connect(source_dsn, "DWH_SOURCE_DSN").close()  # a plain error before connectorx's
    stage = pl.read_database_uri(
        "SELECT id::text AS id, pipeline_id::text AS pipeline_id, name, status, message,"
        " created_at, finished_at FROM stage",
        connectorx_url(source_dsn),
        engine="connectorx",
    )
    return build_events(
        stage.lazy(),
        triggers_topic=settings.topic_name_triggers,
        results_topic=settings.topic_name_results,
    ).collect()


def replay_embedded(
    settings: Settings,
    dsns: Dsns,
    records: pl.DataFrame,
    *,
    progress: Progress | None = None,
    max_seconds: float = 600.0,
) -> ConsumeReport:
    """Start the embedded broker, publish ``records`` (one partition per topic, frame order,
    so the same records get the same offsets), consume them into ODS and DDS, stop it."""
    say = progress or (lambda message: log.info("%s", message))
    log_path = settings.home / "kafka" / "tansu.log"
    with EmbeddedBroker(log_path=log_path) as broker:
        say(f"embedded Kafka broker (tansu) on {broker.bootstrap_servers}")
        ensure_topics(
            broker.bootstrap_servers,
            {settings.topic_name_triggers: 1, settings.topic_name_results: 1},
        )
        published = publish(broker.bootstrap_servers, records, partition=0)
        say(f"published {published} events")
        return run_events(
            settings,
            dsns,
            bootstrap_servers=broker.bootstrap_servers,
            max_messages=published,
            max_seconds=max_seconds,
            progress=progress,
        )


def publish_events(
    settings: Settings, dsns: Dsns, records: pl.DataFrame, *, progress: Progress | None = None
) -> str:
    """Publish simulated ``records`` to the configured Kafka (creating missing topics), or,
    with none configured, replay them through the embedded broker into the warehouse.
    Returns a one-line summary."""
    servers = settings.kafka_bootstrap_servers.strip()
    if servers:
        ensure_topics(servers, {settings.topic_name_triggers: 1, settings.topic_name_results: 1})
        published = publish(servers, records)
        return f"published {published} events to Kafka"
    from dwh.etl import migrate

    migrate(dsns)
    report = replay_embedded(settings, dsns, records, progress=progress)
    return f"no Kafka configured: replayed through the embedded broker, {report}"


def _ods_has_events(ods_dsn: str) -> bool:
    with connect(ods_dsn, "DWH_ODS_DSN") as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM ods.events)").fetchone() == (True,)


def demo_events(settings: Settings, dsns: Dsns, *, progress: Progress | None = None) -> str:
    """The demo's events step; returns a one-line summary.

    With Kafka configured: a short bounded consumption of what the platform published. With
    none: the source's records are replayed through the embedded broker, once per warehouse
    (an in-memory broker restarts its offsets at 0, so replaying the same records again would
    only be absorbed if nothing had changed in the source since).
    """
    if settings.kafka_bootstrap_servers.strip():
        report = run_events(settings, dsns, max_seconds=15.0, progress=progress)
        return f"events from Kafka: {report}"
    if _ods_has_events(dsns.ods):
        return "events: already ingested into this warehouse (embedded broker not needed)"
    records = source_events(dsns.source, settings)
    report = replay_embedded(settings, dsns, records, progress=progress)
    return f"events through the embedded broker: {report}"
