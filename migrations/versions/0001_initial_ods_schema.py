"""Initial ODS schema: source tables, performers, quarantine, events, dead letters, load state.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Written from the models of ``dwh.ods.models`` as they were at this revision; migrations never
import the models, so later model changes cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ods"
UUID = postgresql.UUID(as_uuid=False)
TS = sa.DateTime(timezone=True)

# Created in dependency-free order; dropped in reverse.
TABLES = (
    "configs",
    "orders",
    "pipelines",
    "stages",
    "deliveries",
    "performers",
    "quarantine",
    "events",
    "events_dead_letter",
    "load_state",
)


def _load_metadata(*, deletable: bool = True) -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = [
        sa.Column("_loaded_at", TS, server_default=sa.text("now()"), nullable=False)
    ]
    if deletable:
        columns.append(sa.Column("_deleted_at", TS, nullable=True))
    return columns


def _index(table: str, *columns: str, **kw: object) -> None:
    name = f"ix_{table}_{'_'.join(columns)}"
    op.create_index(name, table, list(columns), unique=False, schema=SCHEMA, **kw)


def upgrade() -> None:
    """Create schema ``ods`` and every ODS table (events without partitions: made on demand)."""
    op.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))

    op.create_table(
        "configs",
        sa.Column("id", UUID, nullable=False),
        sa.Column("min_cost", sa.Double(), nullable=False),
        sa.Column("rubles_per_meter", sa.Double(), nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        *_load_metadata(),
        sa.PrimaryKeyConstraint("id", name="pk_configs"),
        schema=SCHEMA,
    )
    _index("configs", "fetched_at")
    _index("configs", "_loaded_at")

    op.create_table(
        "orders",
        sa.Column("id", UUID, nullable=False),
        sa.Column("source_address_id", UUID, nullable=False),
        sa.Column("target_address_id", UUID, nullable=False),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("registered_at", TS, nullable=False),
        *_load_metadata(),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        schema=SCHEMA,
    )
    _index("orders", "registered_at")
    _index("orders", "_loaded_at")

    op.create_table(
        "pipelines",
        sa.Column("id", UUID, nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        *_load_metadata(),
        sa.PrimaryKeyConstraint("id", name="pk_pipelines"),
        schema=SCHEMA,
    )
    _index("pipelines", "order_id", "created_at", postgresql_include=["status"])
    _index("pipelines", "_loaded_at")

    op.create_table(
        "stages",
        sa.Column("id", UUID, nullable=False),
        sa.Column("pipeline_id", UUID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        *_load_metadata(),
        sa.PrimaryKeyConstraint("id", name="pk_stages"),
        schema=SCHEMA,
    )
    _index("stages", "pipeline_id", "name", "created_at", postgresql_include=["status"])
    _index("stages", "_loaded_at")

    op.create_table(
        "deliveries",
        sa.Column("pipeline_id", UUID, nullable=False),
        sa.Column("cost", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("estimated_at", TS, nullable=True),
        sa.Column("performer_id", UUID, nullable=True),
        sa.Column("assigned_at", TS, nullable=True),
        sa.Column("released_at", TS, nullable=True),
        *_load_metadata(),
        sa.PrimaryKeyConstraint("pipeline_id", name="pk_deliveries"),
        schema=SCHEMA,
    )
    _index("deliveries", "performer_id", postgresql_include=["assigned_at", "released_at", "cost"])
    _index("deliveries", "_loaded_at")

    op.create_table(
        "performers",
        sa.Column("performer_id", UUID, nullable=False),
        sa.Column("first_seen_at", TS, nullable=True),
        sa.Column("last_seen_at", TS, nullable=True),
        sa.Column("deliveries_count", sa.BigInteger(), nullable=False),
        *_load_metadata(deletable=False),
        sa.PrimaryKeyConstraint("performer_id", name="pk_performers"),
        schema=SCHEMA,
    )

    op.create_table(
        "quarantine",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("table_name", "record_key", "reason", name="pk_quarantine"),
        schema=SCHEMA,
    )
    _index("quarantine", "table_name", "last_seen_at")

    op.create_table(
        "events",
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("event_timestamp", TS, nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        *_load_metadata(deletable=False),
        sa.PrimaryKeyConstraint("event_id", "event_timestamp", name="pk_events"),
        schema=SCHEMA,
        postgresql_partition_by="RANGE (event_timestamp)",
    )
    _index("events", "topic", "partition", "offset")
    _index("events", "event_type", "event_timestamp")

    op.create_table(
        "events_dead_letter",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("received_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events_dead_letter"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_events_dead_letter_topic_partition_offset",
        "events_dead_letter",
        ["topic", "partition", "offset"],
        unique=True,
        schema=SCHEMA,
    )

    op.create_table(
        "load_state",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("last_run_at", TS, nullable=False),
        sa.Column("last_run_rows", sa.BigInteger(), nullable=False),
        sa.Column("last_run_status", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name="pk_load_state"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    """Drop every ODS table (with the events partitions); schema ``ods`` stays.

    The schema holds Alembic's version table, which Alembic still writes after this step.
    """
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
