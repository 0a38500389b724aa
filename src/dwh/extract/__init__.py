"""Extract: read the platform's replica into Polars frames (connectorx, Arrow)."""

from dwh.extract.changes import Changes, Snapshot, extract_changes, extract_range, read_snapshot
from dwh.extract.replica import SOURCE_TABLES
from dwh.extract.slices import OrderSlice, SlicedRead, plan_slices, read_in_slices

__all__ = [
    "SOURCE_TABLES",
    "Changes",
    "OrderSlice",
    "SlicedRead",
    "Snapshot",
    "extract_changes",
    "extract_range",
    "plan_slices",
    "read_in_slices",
    "read_snapshot",
]
