"""Generated documentation: the data dictionary (``docs/DATA_DICTIONARY.md``).

:func:`generate_dictionary` reads the live schemas (ODS models, ClickHouse after the schema
files are applied to a throw-away chDB), joins them with ``schemas/dictionary.toml`` and
renders Markdown. ``dwh docs`` writes the file; ``dwh docs --check`` only compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dwh.dds.migrate import DEFAULT_SCHEMAS_DIR
from dwh.docs._catalog import ColumnInfo, TableInfo, clickhouse_tables, live_tables, ods_tables
from dwh.docs._descriptions import (
    DEFAULT_DESCRIPTIONS,
    Descriptions,
    DescriptionsError,
    DocumentedTable,
    TableDescription,
    document,
    load_descriptions,
)
from dwh.docs._render import UNDOCUMENTED, render_dictionary

DEFAULT_OUTPUT = DEFAULT_SCHEMAS_DIR.parent / "docs" / "DATA_DICTIONARY.md"

__all__ = [
    "DEFAULT_DESCRIPTIONS",
    "DEFAULT_OUTPUT",
    "UNDOCUMENTED",
    "ColumnInfo",
    "Descriptions",
    "DescriptionsError",
    "DictionaryResult",
    "DocumentedTable",
    "TableDescription",
    "TableInfo",
    "build_dictionary",
    "clickhouse_tables",
    "document",
    "generate_dictionary",
    "live_tables",
    "load_descriptions",
    "ods_tables",
    "render_dictionary",
]


@dataclass(frozen=True)
class DictionaryResult:
    """The rendered dictionary, the problems found, and whether the file on disk differed."""

    text: str
    problems: list[str]
    changed: bool


def build_dictionary(
    descriptions: Path = DEFAULT_DESCRIPTIONS, schemas_dir: Path = DEFAULT_SCHEMAS_DIR
) -> tuple[str, list[str]]:
    """Render the dictionary of the live schemas; return it with the problems found.

    Opens a throw-away chDB: close any other chDB client of this process first.
    """
    tables, problems = document(live_tables(schemas_dir), load_descriptions(descriptions))
    return render_dictionary(tables), problems


def generate_dictionary(
    output: Path = DEFAULT_OUTPUT,
    *,
    check: bool = False,
    descriptions: Path = DEFAULT_DESCRIPTIONS,
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR,
) -> DictionaryResult:
    """Write the dictionary to ``output`` (unless ``check``) and report what was wrong.

    The file is written even when columns are undocumented (they show as **undocumented**),
    so the gap is visible in the diff; callers fail on a non-empty ``problems``.
    """
    text, problems = build_dictionary(descriptions, schemas_dir)
    current = output.read_text(encoding="utf-8") if output.exists() else None
    changed = current != text
    if changed and not check:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return DictionaryResult(text=text, problems=problems, changed=changed)
