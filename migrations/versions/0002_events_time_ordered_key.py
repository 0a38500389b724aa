"""ods.events: a time-ordered primary key, no separate (event_type, event_timestamp) index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

The key ``(event_id, event_timestamp)`` put every new record at a random page of the index
(``event_id`` is a SHA-1 based uuid), so each batch dirtied pages all over it: with the
``(event_type, event_timestamp)`` index this was most of the cost of an events batch in
PostgreSQL (docs/BENCHMARKS_EVENTS.md). Keyed ``(event_timestamp, event_id)``, records that
arrive in time order append at the right edge, and the key serves the time-range scans the
dropped index was for (``event_type`` has two values: a filter, not an access path). The
uniqueness is the same, so ``ON CONFLICT DO NOTHING`` still absorbs a redelivered record.

Rebuilding the key rewrites the index of every monthly partition under an exclusive lock:
stop the events consumer while this runs on a large table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ods"
TABLE = "events"
TYPE_INDEX = "ix_events_event_type_event_timestamp"


def _primary_key(*columns: str) -> None:
    op.drop_constraint("pk_events", TABLE, schema=SCHEMA, type_="primary")
    op.create_primary_key("pk_events", TABLE, list(columns), schema=SCHEMA)


def upgrade() -> None:
    """Key ods.events by (event_timestamp, event_id); drop the event type index."""
    op.drop_index(TYPE_INDEX, table_name=TABLE, schema=SCHEMA)
    _primary_key("event_timestamp", "event_id")


def downgrade() -> None:
    """Restore the key and the index of revision 0001."""
    _primary_key("event_id", "event_timestamp")
    op.create_index(TYPE_INDEX, TABLE, ["event_type", "event_timestamp"], schema=SCHEMA)
