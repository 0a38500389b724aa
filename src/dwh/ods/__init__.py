"""The ODS layer (PostgreSQL schema ``ods``): cleanup transforms, loader, reader, migrations.

Raw frames from the replica go through ``clean_*`` (pure, lazy) into :func:`load_ods`; the DDS
builder reads the result with :func:`read_ods`. The schema is managed by Alembic through
:func:`upgrade_ods` / :func:`downgrade_ods`.
"""

from dwh.ods._cleaning import Cleaned, CleanedFrames, empty_quarantine
from dwh.ods._load import LoadCounts, load_ods, load_ods_in_slices
from dwh.ods._migrate import downgrade_ods, upgrade_ods
from dwh.ods._partitions import ensure_event_partitions
from dwh.ods._read import read_ods
from dwh.ods.changes import (
    OdsChanges,
    first_load_changes,
    ods_changes_ahead,
    ods_watermark,
    read_ods_changes,
    read_performer_changes,
)
from dwh.ods.configs import ConfigsSchema, clean_configs
from dwh.ods.deletes import deleted_order_ids, mark_orders_deleted
from dwh.ods.deliveries import DeliveriesSchema, clean_deliveries
from dwh.ods.models import (
    Configs,
    Deliveries,
    Events,
    EventsDeadLetter,
    LoadState,
    Orders,
    Performers,
    Pipelines,
    Quarantine,
    Stages,
)
from dwh.ods.orders import OrdersSchema, clean_orders
from dwh.ods.performers import PerformersSchema, build_performers
from dwh.ods.pipelines import PipelinesSchema, clean_pipelines
from dwh.ods.snapshot import OdsBatch, clean_snapshot, known_parents
from dwh.ods.stages import StagesSchema, clean_stages

__all__ = [
    "Cleaned",
    "CleanedFrames",
    "Configs",
    "ConfigsSchema",
    "Deliveries",
    "DeliveriesSchema",
    "Events",
    "EventsDeadLetter",
    "LoadCounts",
    "LoadState",
    "OdsBatch",
    "OdsChanges",
    "Orders",
    "OrdersSchema",
    "Performers",
    "PerformersSchema",
    "Pipelines",
    "PipelinesSchema",
    "Quarantine",
    "Stages",
    "StagesSchema",
    "build_performers",
    "clean_configs",
    "clean_deliveries",
    "clean_orders",
    "clean_pipelines",
    "clean_snapshot",
    "clean_stages",
    "deleted_order_ids",
    "downgrade_ods",
    "empty_quarantine",
    "ensure_event_partitions",
    "first_load_changes",
    "known_parents",
    "load_ods",
    "load_ods_in_slices",
    "mark_orders_deleted",
    "ods_changes_ahead",
    "ods_watermark",
    "read_ods",
    "read_ods_changes",
    "read_performer_changes",
    "upgrade_ods",
]
