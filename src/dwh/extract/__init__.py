"""Extract: read the platform's replica into Polars frames (connectorx, Arrow)."""

from dwh.extract.changes import Changes, Snapshot, extract_changes, extract_range, read_snapshot
from dwh.extract.replica import SOURCE_TABLES

__all__ = [
    "SOURCE_TABLES",
    "Changes",
    "Snapshot",
    "extract_changes",
    "extract_range",
    "read_snapshot",
]
