"""Connections to the engines: PostgreSQL (source, replica, ODS) and ClickHouse (DDS, marts)."""
