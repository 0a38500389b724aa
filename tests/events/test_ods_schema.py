"""The ODS side of the events path: ``ods.events`` is keyed for appends in time order."""

from __future__ import annotations

import psycopg
import pytest

from dwh.ods import downgrade_ods, upgrade_ods
from dwh.ods.models import Events

pytestmark = pytest.mark.integration

_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'ods.events'::regclass ORDER BY 1
"""


def _indexes(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {str(name): str(sql) for name, sql in conn.execute(_INDEXES).fetchall()}


def test_events_key_leads_with_the_event_time_and_migrates_both_ways(pg_dsn: str) -> None:
    assert list(Events.__table__.primary_key.columns.keys()) == ["event_timestamp", "event_id"]
    upgrade_ods(pg_dsn)
    head = _indexes(pg_dsn)
    assert set(head) == {"pk_events", "ix_events_topic_partition_offset"}
    assert head["pk_events"].endswith("USING btree (event_timestamp, event_id)")

    downgrade_ods(pg_dsn, "0001")
    before = _indexes(pg_dsn)
    assert before["pk_events"].endswith("USING btree (event_id, event_timestamp)")
    assert "ix_events_event_type_event_timestamp" in before

    upgrade_ods(pg_dsn)
    assert _indexes(pg_dsn) == head
