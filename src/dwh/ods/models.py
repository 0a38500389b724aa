"""SQLAlchemy models of the ODS (PostgreSQL schema ``ods``): the DDL lives here, once.

Source tables keep their source column names and gain two load-metadata columns:
``_loaded_at`` (the last change the DDS must see: new content, a deletion mark or a revival;
an unchanged reload leaves it)
and ``_deleted_at`` (when the key vanished from the source; cleared if it comes back).
Foreign keys are deliberately absent: the ODS keeps children whose parents were hard-deleted in
the source, and the cleanup transforms already hold back orphans (see ``dwh.ods._cleaning``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "ods"

# Deterministic constraint/index names, so autogenerate compares like with like.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TIMESTAMPTZ = DateTime(timezone=True)
UUID_STR = UUID(as_uuid=False)


class Base(DeclarativeBase):
    """Declarative base of every ODS table (all in schema ``ods``)."""

    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


def _loaded_at_column() -> Mapped[datetime]:
    return mapped_column(TIMESTAMPTZ, nullable=False, server_default=func.now())


def _deleted_at_column() -> Mapped[datetime | None]:
    return mapped_column(TIMESTAMPTZ, nullable=True)


class Orders(Base):
    """One row per order (source ``"order"``), including orders hard-deleted in the source."""

    __tablename__ = "orders"
    __table_args__ = (
        Index(None, "registered_at"),
        Index(None, "_loaded_at"),
    )

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    source_address_id: Mapped[str] = mapped_column(UUID_STR, nullable=False)
    target_address_id: Mapped[str] = mapped_column(UUID_STR, nullable=False)
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)
    _loaded_at: Mapped[datetime] = _loaded_at_column()
    _deleted_at: Mapped[datetime | None] = _deleted_at_column()


class Pipelines(Base):
    """One row per pipeline (delivery attempt of an order)."""

    __tablename__ = "pipelines"
    __table_args__ = (
        # "Pipelines of an order, latest first" without touching the heap for the status.
        Index(None, "order_id", "created_at", postgresql_include=["status"]),
        Index(None, "_loaded_at"),
    )

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    order_id: Mapped[str] = mapped_column(UUID_STR, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    _loaded_at: Mapped[datetime] = _loaded_at_column()
    _deleted_at: Mapped[datetime | None] = _deleted_at_column()


class Stages(Base):
    """One row per stage row of the source, duplicates of ``(pipeline_id, name)`` included."""

    __tablename__ = "stages"
    __table_args__ = (
        Index(None, "pipeline_id", "name", "created_at", postgresql_include=["status"]),
        Index(None, "_loaded_at"),
    )

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(UUID_STR, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    _loaded_at: Mapped[datetime] = _loaded_at_column()
    _deleted_at: Mapped[datetime | None] = _deleted_at_column()


class Deliveries(Base):
    """One row per delivery (0..1 per pipeline, keyed by ``pipeline_id``)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # Serves ods.performers and per-performer statistics from the index alone.
        Index(None, "performer_id", postgresql_include=["assigned_at", "released_at", "cost"]),
        Index(None, "_loaded_at"),
    )

    pipeline_id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    estimated_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    performer_id: Mapped[str | None] = mapped_column(UUID_STR, nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    _loaded_at: Mapped[datetime] = _loaded_at_column()
    _deleted_at: Mapped[datetime | None] = _deleted_at_column()


class Configs(Base):
    """One row per config row ever seen: the tariff history (the source keeps only one)."""

    __tablename__ = "configs"
    __table_args__ = (
        Index(None, "fetched_at"),
        Index(None, "_loaded_at"),
    )

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    min_cost: Mapped[float] = mapped_column(Double, nullable=False)
    rubles_per_meter: Mapped[float] = mapped_column(Double, nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)
    _loaded_at: Mapped[datetime] = _loaded_at_column()
    # Never set by the loader (configs are replaced every minute, history is the point); kept
    # so every source table has the same metadata columns.
    _deleted_at: Mapped[datetime | None] = _deleted_at_column()


class Performers(Base):
    """One row per performer id seen in ``ods.deliveries`` (the one derived ODS table)."""

    __tablename__ = "performers"

    performer_id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    deliveries_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    _loaded_at: Mapped[datetime] = _loaded_at_column()


DATA_TABLES: tuple[str, ...] = tuple(
    str(model.__tablename__)
    for model in (Configs, Orders, Pipelines, Stages, Deliveries, Performers)
)
"""The ODS tables of platform data, each stamped with ``_loaded_at``: the five source tables
and the performers derived from them."""


class Quarantine(Base):
    """One row per (table, record key, reason) of a source row that failed validation."""

    __tablename__ = "quarantine"
    __table_args__ = (Index(None, "table_name", "last_seen_at"),)

    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    record_key: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text, primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)


class Events(Base):
    """One row per Kafka record; range-partitioned by month of ``event_timestamp``.

    Partitions are created on demand by :func:`dwh.ods.ensure_event_partitions` and are
    invisible to the models (autogenerate skips them). PostgreSQL requires the partition key
    in the primary key; ``event_id`` is derived from topic/partition/offset by the consumer.
    The key leads with ``event_timestamp``: records arrive roughly in time order, so new keys
    land on the right edge of the index instead of at random pages (``event_id`` is a hash),
    and the same index serves time-range scans, with or without an ``event_type`` filter.
    """

    __tablename__ = "events"
    __table_args__ = (
        PrimaryKeyConstraint("event_timestamp", "event_id"),
        Index(None, "topic", "partition", "offset"),
        {"postgresql_partition_by": "RANGE (event_timestamp)"},
    )

    event_id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    event_timestamp: Mapped[datetime] = mapped_column(TIMESTAMPTZ, primary_key=True)
    event_type: Mapped[str] = mapped_column(Text, nullable=False)
    event_data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    partition: Mapped[int] = mapped_column(Integer, nullable=False)
    offset: Mapped[int] = mapped_column(BigInteger, nullable=False)
    _loaded_at: Mapped[datetime] = _loaded_at_column()


class EventsDeadLetter(Base):
    """One row per Kafka record that could not be decoded, with the raw bytes and the error."""

    __tablename__ = "events_dead_letter"
    # Unique so a replayed batch re-dead-letters nothing (the consumer inserts ON CONFLICT DO
    # NOTHING): the sink stays idempotent even for records it cannot decode.
    __table_args__ = (Index(None, "topic", "partition", "offset", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    partition: Mapped[int] = mapped_column(Integer, nullable=False)
    offset: Mapped[int] = mapped_column(BigInteger, nullable=False)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    error: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        TIMESTAMPTZ, nullable=False, server_default=func.now()
    )


class LoadState(Base):
    """One row per loaded ODS table: the extraction cursor and the outcome of the last run."""

    __tablename__ = "load_state"

    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_run_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, nullable=False)
    last_run_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_run_status: Mapped[str] = mapped_column(Text, nullable=False)
