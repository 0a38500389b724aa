"""The live schemas of the warehouse as plain data: every table, its columns and their types.

Names and types are never written down by hand: the ODS comes from its SQLAlchemy models (the
ODS migration tests keep the migrated database equal to them) and ClickHouse from
``system.tables`` / ``system.columns`` of a database the schema files were applied to.
"""

from __future__ import annotations

import importlib
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from dwh.dds import DDS_SCHEMAS, apply_migrations
from dwh.dds.migrate import DEFAULT_SCHEMAS_DIR, LAYERS
from dwh.engines.clickhouse import open_client
from dwh.ods.models import Base

ODS_LAYER = "ods"

#: Layers in the order the dictionary presents them.
DICTIONARY_LAYERS = (ODS_LAYER, *LAYERS)

_RST_LITERAL = re.compile(r"``(.+?)``")


@dataclass(frozen=True)
class ColumnInfo:
    """One live column: name, the engine's type and the engine's own comment (often empty)."""

    name: str
    type: str
    comment: str = ""


@dataclass(frozen=True)
class TableInfo:
    """One live table.

    ``key`` is the logical key (what identifies a row); ``properties`` are engine details worth
    knowing when querying (engine, sorting key, partitioning), in display order. ``grain`` is
    what the code says about the table (a model's or module's docstring, or a table comment),
    empty when it says nothing.
    """

    layer: str
    name: str
    columns: tuple[ColumnInfo, ...]
    key: tuple[str, ...]
    properties: tuple[tuple[str, str], ...] = ()
    grain: str = ""

    @property
    def qualified_name(self) -> str:
        """``<layer>.<table>``, as queries spell it."""
        return f"{self.layer}.{self.name}"


def first_paragraph(docstring: str | None) -> str:
    """The first paragraph of a docstring on one line, RST ````literals```` as Markdown."""
    if not docstring:
        return ""
    paragraph = docstring.strip().split("\n\n", 1)[0]
    return _RST_LITERAL.sub(r"`\1`", " ".join(paragraph.split()))


def _module_grain(layer: str, table: str) -> str:
    """The grain stated by module ``dwh.<layer>.<table>``, whose docstring opens with
    ````<layer>.<table>``: one row per …`` by convention; empty when there is no such module."""
    try:
        module = importlib.import_module(f"dwh.{layer}.{table}")
    except ImportError:
        return ""
    prefix = f"`{layer}.{table}`:"
    text = first_paragraph(module.__doc__)
    if not text.startswith(prefix):
        return ""
    rest = text.removeprefix(prefix).strip()
    return rest[:1].upper() + rest[1:]


def _postgres_type(table: Table, name: str) -> str:
    column = table.columns[name]
    compiled = str(column.type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    compiled = compiled.lower()
    return f"{compiled} NULL" if column.nullable else compiled


def ods_tables() -> list[TableInfo]:
    """Every table of the ODS models (``dwh.ods.models``), sorted by name."""
    # Models map one table each: the docstring of the class whose __table__ it is.
    docstrings = {
        getattr(mapper.class_, "__tablename__", ""): mapper.class_.__doc__
        for mapper in Base.registry.mappers
    }
    tables: list[TableInfo] = []
    for table in Base.metadata.tables.values():
        properties: list[tuple[str, str]] = []
        partition_by = table.dialect_options["postgresql"].get("partition_by")
        if partition_by:
            properties.append(("partitioned by", str(partition_by)))
        tables.append(
            TableInfo(
                layer=ODS_LAYER,
                name=table.name,
                columns=tuple(
                    ColumnInfo(c.name, _postgres_type(table, c.name), c.comment or "")
                    for c in table.columns
                ),
                key=tuple(table.primary_key.columns.keys()),
                properties=tuple(properties),
                grain=first_paragraph(docstrings.get(table.name)) or (table.comment or ""),
            )
        )
    return sorted(tables, key=lambda t: t.name)


def _split_key(expression: str) -> tuple[str, ...]:
    # ClickHouse reports a sorting key as "a, b"; a column needing backticks comes back bare.
    return tuple(part.strip().strip("`") for part in expression.split(",") if part.strip())


def clickhouse_tables(client: Client) -> list[TableInfo]:
    """Every table and view of the ClickHouse databases ``dds`` and ``marts``, sorted by name.

    Hidden inner tables (names starting with ``.``) are skipped. The logical key of a DDS table
    with a dataframely schema is that schema's primary key; otherwise it is the sorting key.
    """
    databases = list(LAYERS)
    tables = client.query(
        "SELECT database, name, engine, sorting_key, partition_key, comment FROM system.tables"
        " WHERE database IN {databases:Array(String)} AND NOT startsWith(name, '.')"
        " ORDER BY database, name",
        parameters={"databases": databases},
    ).result_rows
    columns: dict[tuple[str, str], list[ColumnInfo]] = {}
    for database, table, name, type_, comment in client.query(
        "SELECT database, table, name, type, comment FROM system.columns"
        " WHERE database IN {databases:Array(String)} ORDER BY database, table, position",
        parameters={"databases": databases},
    ).result_rows:
        columns.setdefault((database, table), []).append(ColumnInfo(name, type_, comment))
    found: list[TableInfo] = []
    for database, name, engine, sorting_key, partition_key, comment in tables:
        properties = [("engine", engine)]
        if sorting_key:
            properties.append(("sorting key", sorting_key))
        if partition_key:
            properties.append(("partitioned by", partition_key))
        schema = DDS_SCHEMAS.get(name) if database == "dds" else None
        key = tuple(schema.primary_key()) if schema is not None else _split_key(sorting_key)
        found.append(
            TableInfo(
                layer=database,
                name=name,
                columns=tuple(columns.get((database, name), [])),
                key=key,
                properties=tuple(properties),
                grain=_module_grain(database, name) or comment,
            )
        )
    return found


@contextmanager
def migrated_clickhouse(schemas_dir: Path = DEFAULT_SCHEMAS_DIR) -> Iterator[Client]:
    """A throw-away chDB with every schema file of ``schemas_dir`` applied.

    chDB allows one open data path per process: close any other client before entering.
    """
    with tempfile.TemporaryDirectory(prefix="dwh-docs-") as directory:
        client = open_client(f"chdb://{directory}/chdb", lock_timeout=0)
        try:
            apply_migrations(client, schemas_dir)
            yield client
        finally:
            client.close()


def live_tables(schemas_dir: Path = DEFAULT_SCHEMAS_DIR) -> list[TableInfo]:
    """The ODS, DDS and mart tables as the code and schema files define them right now."""
    with migrated_clickhouse(schemas_dir) as client:
        return ods_tables() + clickhouse_tables(client)
