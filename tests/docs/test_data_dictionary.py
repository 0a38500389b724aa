"""docs/DATA_DICTIONARY.md is generated from the live schemas, complete, and up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from dwh.cli import app
from dwh.dds.migrate import DEFAULT_SCHEMAS_DIR
from dwh.docs import (
    DEFAULT_DESCRIPTIONS,
    DEFAULT_OUTPUT,
    UNDOCUMENTED,
    ColumnInfo,
    Descriptions,
    DescriptionsError,
    TableDescription,
    TableInfo,
    build_dictionary,
    document,
    generate_dictionary,
    load_descriptions,
    ods_tables,
    render_dictionary,
)
from dwh.ods import upgrade_ods

PROBE_DDL = """CREATE TABLE IF NOT EXISTS dds.docs_probe
(
    probe_id UUID,
    undocumented_thing String
)
ENGINE = MergeTree
ORDER BY probe_id;
"""


@pytest.fixture(scope="module")
def generated() -> tuple[str, list[str]]:
    """The dictionary of the schemas as they are in this checkout, and its problems."""
    return build_dictionary()


def _schemas_with(tmp_path: Path, ddl: str) -> Path:
    """A copy of ``schemas/`` plus one more DDS schema file holding ``ddl``."""
    schemas = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, schemas)
    (schemas / "dds" / "999_docs_probe.sql").write_text(ddl, encoding="utf-8")
    return schemas


def _about_probe(problems: list[str]) -> list[str]:
    # Other tables may be mid-way through being documented; these tests are about the probe.
    return [p for p in problems if p.startswith("dds.docs_probe")]


def test_every_live_table_and_column_is_documented(generated: tuple[str, list[str]]) -> None:
    text, problems = generated
    assert problems == []
    assert UNDOCUMENTED not in text


def test_committed_dictionary_is_up_to_date(generated: tuple[str, list[str]]) -> None:
    text, _ = generated
    committed = DEFAULT_OUTPUT.read_text(encoding="utf-8") if DEFAULT_OUTPUT.exists() else ""
    assert committed == text, f"{DEFAULT_OUTPUT} is out of date: run `dwh docs`"


def test_dictionary_covers_every_layer(generated: tuple[str, list[str]]) -> None:
    text, _ = generated
    for table in ("ods.orders", "ods.quarantine", "dds.fact_deliveries", "marts.revenue_daily"):
        assert f"### `{table}`" in text
    # Types come from the engines, not from prose.
    assert "| `cost` | `Nullable(Decimal(12, 2))` |" in text
    assert "| `cost` | `numeric(12, 2) NULL` |" in text


def test_new_column_without_description_fails(tmp_path: Path) -> None:
    text, problems = build_dictionary(schemas_dir=_schemas_with(tmp_path, PROBE_DDL))
    assert any(p.startswith("dds.docs_probe.undocumented_thing: no description") for p in problems)
    assert any(p.startswith("dds.docs_probe: no grain") for p in problems)
    assert f"| `undocumented_thing` | `String` | {UNDOCUMENTED} |" in text


def test_engine_comments_document_a_table(tmp_path: Path) -> None:
    ddl = PROBE_DDL.replace("probe_id UUID,", "probe_id UUID COMMENT 'Probe id.',")
    ddl = ddl.replace("undocumented_thing String", "undocumented_thing String COMMENT 'A thing.'")
    ddl = ddl.replace("ORDER BY probe_id;", "ORDER BY probe_id\nCOMMENT 'One row per probe.';")
    text, problems = build_dictionary(schemas_dir=_schemas_with(tmp_path, ddl))
    assert _about_probe(problems) == []
    assert "| `undocumented_thing` | `String` | A thing. |" in text
    assert "One row per probe." in text


def test_a_meaning_given_twice_fails(tmp_path: Path) -> None:
    ddl = PROBE_DDL.replace("probe_id UUID,", "probe_id UUID COMMENT 'Probe id.',")
    descriptions = tmp_path / "dictionary.toml"
    descriptions.write_text(
        DEFAULT_DESCRIPTIONS.read_text(encoding="utf-8")
        + '\n[dds.docs_probe]\ngrain = "One row per probe."\n'
        + '[dds.docs_probe.columns]\nprobe_id = "Also the probe id."\nundocumented_thing = "x"\n',
        encoding="utf-8",
    )
    _, problems = build_dictionary(descriptions, _schemas_with(tmp_path, ddl))
    assert _about_probe(problems) == [
        "dds.docs_probe.probe_id: described by a COMMENT and in dictionary.toml; keep one"
    ]


def test_entries_for_missing_tables_or_columns_fail(tmp_path: Path) -> None:
    descriptions = tmp_path / "dictionary.toml"
    descriptions.write_text(
        DEFAULT_DESCRIPTIONS.read_text(encoding="utf-8")
        + '\n[marts.gone_mart.columns]\nday = "A day."\n'
        + "[dds.fact_orders.columns.extra_entry]\n",
        encoding="utf-8",
    )
    with pytest.raises(DescriptionsError, match=r"\[dds\.fact_orders\]\.columns"):
        load_descriptions(descriptions)

    descriptions.write_text(
        DEFAULT_DESCRIPTIONS.read_text(encoding="utf-8").replace(
            "[dds.fact_orders.columns]\n", '[dds.fact_orders.columns]\nrenamed_away = "Old."\n'
        )
        + '\n[marts.gone_mart.columns]\nday = "A day."\n',
        encoding="utf-8",
    )
    _, problems = document(ods_tables(), load_descriptions(descriptions))
    assert "marts.gone_mart: described in dictionary.toml but no such table" in problems
    # fact_orders is not among the ODS tables passed in, so it is gone too.
    assert "dds.fact_orders: described in dictionary.toml but no such table" in problems


def test_a_column_added_to_an_ods_model_fails() -> None:
    tables = ods_tables()
    orders = next(t for t in tables if t.name == "orders")
    grown = TableInfo(
        layer=orders.layer,
        name=orders.name,
        columns=(*orders.columns, ColumnInfo("customer_id", "uuid NULL")),
        key=orders.key,
        grain=orders.grain,
    )
    descriptions = load_descriptions()
    _, problems = document([grown if t is orders else t for t in tables], descriptions)
    assert any(p.startswith("ods.orders.customer_id: no description") for p in problems)


def test_unknown_sections_are_refused(tmp_path: Path) -> None:
    descriptions = tmp_path / "dictionary.toml"
    descriptions.write_text('[stagging.orders.columns]\nid = "typo"\n', encoding="utf-8")
    with pytest.raises(DescriptionsError, match="unknown top-level section"):
        load_descriptions(descriptions)


def test_table_cells_escape_pipes() -> None:
    table = TableInfo("dds", "t", (ColumnInfo("a", "String", "x | y"),), ("a",), grain="One.")
    documented, problems = document([table], Descriptions(common={}, tables={}))
    assert problems == []
    assert "| `a` | `String` | x \\| y |" in render_dictionary(documented)


def test_key_can_be_named_where_the_engine_has_none() -> None:
    view = TableInfo("dds", "v", (ColumnInfo("a", "String", "A."),), (), grain="One.")
    named = Descriptions(common={}, tables={"dds.v": TableDescription(key=("a",))})
    documented, problems = document([view], named)
    assert problems == []
    assert "- **Key:** `a`" in render_dictionary(documented)
    wrong = Descriptions(common={}, tables={"dds.v": TableDescription(key=("b",))})
    assert document([view], wrong)[1] == ["dds.v: key column b is not a column of the table"]


def test_generate_writes_then_reports_up_to_date(tmp_path: Path) -> None:
    output = tmp_path / "docs" / "DATA_DICTIONARY.md"
    checked = generate_dictionary(output, check=True)
    assert checked.changed
    assert not output.exists()
    written = generate_dictionary(output)
    assert written.changed
    assert output.read_text(encoding="utf-8") == written.text
    assert not generate_dictionary(output, check=True).changed


def test_cli_check_passes_on_this_checkout() -> None:
    result = CliRunner().invoke(app, ["docs", "--check"])
    assert result.exit_code == 0, result.output


@pytest.mark.integration
def test_ods_tables_match_the_migrated_database(pg_dsn: str) -> None:
    upgrade_ods(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
            FROM pg_attribute AS a
            JOIN pg_class AS c ON c.oid = a.attrelid
            JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'ods' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND c.relname != 'alembic_version' AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY c.relname, a.attnum
            """
        ).fetchall()
    live: dict[str, list[str]] = {}
    for table, column, type_, not_null in rows:
        live.setdefault(table, []).append(f"{column} {type_}{'' if not_null else ' NULL'}")
    documented = {
        t.name: [f"{c.name} {c.type}".replace(", ", ",") for c in t.columns] for t in ods_tables()
    }
    assert documented == live
