"""What the live schemas cannot say: the meaning of each column, from one descriptions file.

``schemas/dictionary.toml`` maps ``[<layer>.<table>.columns]`` to one sentence per column and,
for tables whose code states no grain, ``[<layer>.<table>] grain = "…"``; ``key = [...]`` names
the logical key where the engine's key is not it (a view, a sorting key with a time prefix
that only serves range scans). ``[common]`` holds
columns that mean the same in every table (load metadata such as ``_version``). A column may
instead be described by its engine comment (ClickHouse ``COMMENT``, SQLAlchemy ``comment=``);
describing it in both places is reported, so each meaning lives in exactly one place.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dwh.dds.migrate import DEFAULT_SCHEMAS_DIR
from dwh.docs._catalog import DICTIONARY_LAYERS, ColumnInfo, TableInfo
from dwh.errors import DwhError

DEFAULT_DESCRIPTIONS = DEFAULT_SCHEMAS_DIR / "dictionary.toml"
COMMON = "common"


@dataclass(frozen=True)
class TableDescription:
    """The descriptions file's entry for one table."""

    grain: str = ""
    key: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Descriptions:
    """The whole descriptions file: common columns and per-table entries by qualified name."""

    common: Mapping[str, str]
    tables: Mapping[str, TableDescription]
    path: Path = DEFAULT_DESCRIPTIONS


@dataclass(frozen=True)
class DocumentedColumn:
    """A live column with its meaning (empty when nobody described it)."""

    column: ColumnInfo
    description: str


@dataclass(frozen=True)
class DocumentedTable:
    """A live table with its grain and documented columns."""

    table: TableInfo
    grain: str
    key: tuple[str, ...]
    columns: tuple[DocumentedColumn, ...]


class DescriptionsError(DwhError):
    """The descriptions file cannot be read or has the wrong shape."""


def _strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise DescriptionsError(f"{where}: expected a table of strings")
    return {str(k): " ".join(v.split()) for k, v in value.items()}


def load_descriptions(path: Path = DEFAULT_DESCRIPTIONS) -> Descriptions:
    """Read and check the shape of the descriptions file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DescriptionsError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - {COMMON, *DICTIONARY_LAYERS})
    if unknown:
        raise DescriptionsError(
            f"{path}: unknown top-level section(s) {unknown}; "
            f"expected [{COMMON}] or one of the layers {list(DICTIONARY_LAYERS)}"
        )
    tables: dict[str, TableDescription] = {}
    for layer in DICTIONARY_LAYERS:
        for name, entry in data.get(layer, {}).items():
            where = f"{path}: [{layer}.{name}]"
            if not isinstance(entry, dict) or set(entry) - {"grain", "key", "columns"}:
                raise DescriptionsError(f"{where}: only `grain`, `key` and [columns] are allowed")
            grain = entry.get("grain", "")
            if not isinstance(grain, str):
                raise DescriptionsError(f"{where}: grain must be a string")
            key = entry.get("key", [])
            if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
                raise DescriptionsError(f"{where}: key must be a list of column names")
            tables[f"{layer}.{name}"] = TableDescription(
                grain=" ".join(grain.split()),
                key=tuple(key),
                columns=_strings(entry.get("columns", {}), f"{where}.columns"),
            )
    return Descriptions(
        common=_strings(data.get(COMMON, {}), f"{path}: [{COMMON}]"), tables=tables, path=path
    )


def _hint(descriptions: Descriptions, table: TableInfo) -> str:
    return f"add it to {descriptions.path.name} under [{table.qualified_name}.columns]"


def document(
    tables: Iterable[TableInfo], descriptions: Descriptions
) -> tuple[list[DocumentedTable], list[str]]:
    """Join the live tables with their descriptions; also return every problem found.

    Problems: a column or table without a meaning or grain, a meaning given twice (file and
    engine comment, or file grain and docstring), and file entries for tables or columns that
    no longer exist. An empty list means the dictionary is complete.
    """
    problems: list[str] = []
    documented: list[DocumentedTable] = []
    seen: set[str] = set()
    for table in tables:
        seen.add(table.qualified_name)
        entry = descriptions.tables.get(table.qualified_name, TableDescription())
        grain = entry.grain or table.grain
        if entry.grain and table.grain:
            problems.append(
                f"{table.qualified_name}: grain stated by the code and in "
                f"{descriptions.path.name}; keep one"
            )
        if not grain:
            problems.append(
                f"{table.qualified_name}: no grain (state it in the module docstring or as "
                f"`grain` under [{table.qualified_name}] in {descriptions.path.name})"
            )
        columns: list[DocumentedColumn] = []
        for column in table.columns:
            described = entry.columns.get(column.name, "")
            if described and column.comment:
                problems.append(
                    f"{table.qualified_name}.{column.name}: described by a COMMENT and in "
                    f"{descriptions.path.name}; keep one"
                )
            meaning = described or column.comment or descriptions.common.get(column.name, "")
            if not meaning:
                problems.append(
                    f"{table.qualified_name}.{column.name}: no description "
                    f"({_hint(descriptions, table)})"
                )
            columns.append(DocumentedColumn(column, meaning))
        names = {column.name for column in table.columns}
        problems.extend(
            f"{table.qualified_name}.{name}: described in {descriptions.path.name} "
            "but no such column"
            for name in sorted(set(entry.columns) - names)
        )
        problems.extend(
            f"{table.qualified_name}: key column {name} is not a column of the table"
            for name in entry.key
            if name not in names
        )
        key = entry.key or table.key
        documented.append(DocumentedTable(table, grain, key, tuple(columns)))
    problems.extend(
        f"{name}: described in {descriptions.path.name} but no such table"
        for name in sorted(set(descriptions.tables) - seen)
    )
    return documented, problems
