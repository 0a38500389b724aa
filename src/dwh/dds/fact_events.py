"""``dds.fact_events``: one row per Kafka record (trigger or result).

A record's identity is ``(topic, partition, offset)``; ``event_id`` is the UUID the events
loader derives from it, and ``event_timestamp`` is the record timestamp. Trigger records fill
``pipeline_id`` and ``stage_name``; result records fill ``stage_id``, ``status`` and
``message``. No transform lives here yet: the events loader produces frames of this schema.
"""

from __future__ import annotations

import dataframely as dy

from dwh.dds._columns import STAGE_NAMES, STATUSES, one_of, utc_column, uuid_column

EVENT_TYPES = ("trigger", "result")


class FactEventsSchema(dy.Schema):
    """Rows of ``dds.fact_events``; mirrors ``schemas/dds/*_fact_events.sql``."""

    event_id = uuid_column(primary_key=True)
    event_type = dy.String(check=one_of(EVENT_TYPES))
    topic = dy.String()
    partition = dy.Int32(min=0)
    offset = dy.Int64(min=0)
    event_timestamp = utc_column()
    pipeline_id = uuid_column(nullable=True)
    stage_name = dy.String(nullable=True, check=one_of(STAGE_NAMES))
    stage_id = uuid_column(nullable=True)
    status = dy.String(nullable=True, check=one_of(STATUSES))
    message = dy.String(nullable=True)
