"""Extract: read the platform's replica into Polars frames (connectorx, Arrow)."""

from dwh.extract.replica import SOURCE_TABLES, extract_replica

__all__ = ["SOURCE_TABLES", "extract_replica"]
