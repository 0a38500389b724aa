"""What new fact versions change: old and new rows compared, before the new ones are loaded.

Rows identical to their stored version are not loaded again. A derived table (hourly
aggregate or mart) reads some columns of some facts. A new version of a fact row that leaves
every one of those columns as it was cannot change that table, so an incremental run refreshes
only the tables whose inputs differ, each from the earliest time (``registered_at``/
``created_at``/``event_timestamp``) of a differing row, old or new version.

The columns a derived table reads are taken from its SQL: every column name of a fact that
occurs as a word in the innermost subquery reading the fact (views expanded; every column if
that subquery selects ``*``) counts. That can only over-estimate the inputs — a spurious
refresh — never miss one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from clickhouse_connect.driver.client import Client

FACT_KEYS = {"fact_orders": "order_id", "fact_deliveries": "pipeline_id", "fact_stages": "stage_id"}
"""The facts the batch ETL loads, by key."""
# Rows numbered together (attempts within an order, occurrences within a pipeline's stage)
# are checked together when loaded: a changed row brings its group along.
_FACT_GROUPS = {
    "fact_orders": "order_id",
    "fact_deliveries": "order_id",
    "fact_stages": "pipeline_id",
}
PLACING_COLUMNS = ("registered_at", "created_at", "event_timestamp")
"""Columns that place a fact row in the hourly tables and daily marts."""

_REFERENCE = re.compile(r"\bdds\.`?([A-Za-z_][A-Za-z0-9_]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STAR = re.compile(r"(?:\bSELECT|,)\s*(?:[A-Za-z_][A-Za-z0-9_]*\.)?\*", re.IGNORECASE)

Inputs = dict[str, dict[str, frozenset[str]]]
"""Per derived table: the facts it reads, each with the columns it reads."""


def read_inputs(client: Client, selects: Mapping[str, str]) -> Inputs:
    """The fact columns each of ``selects`` (derived table → its SELECT) reads."""
    rows = client.query(
        "SELECT table, name FROM system.columns WHERE database = 'dds'"
        " AND table IN (SELECT name FROM system.tables WHERE database = 'dds'"
        " AND engine != 'View')"
    ).result_rows
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(str(table), set()).add(str(column))
    views = {
        str(name): str(select)
        for name, select in client.query(
            "SELECT name, as_select FROM system.tables WHERE database = 'dds' AND engine = 'View'"
        ).result_rows
    }
    inputs: Inputs = {}
    for derived, select in selects.items():
        reads: dict[str, set[str]] = {}
        texts, seen = [select], set[str]()
        while texts:
            text = texts.pop()
            for match in _REFERENCE.finditer(text):
                name = match.group(1)
                if name in views and name not in seen:
                    seen.add(name)
                    texts.append(views[name])
                elif name in columns:
                    scope = _enclosing_query(text, match.start())
                    # A projection by `*` hands every column on to the outer query.
                    star = _STAR.search(scope) is not None
                    words = columns[name] if star else set(_WORD.findall(scope))
                    reads.setdefault(name, set()).update(columns[name] & words - {"_version"})
        inputs[derived] = {table: frozenset(used) for table, used in reads.items()}
    return inputs


def _enclosing_query(text: str, position: int) -> str:
    """The innermost parenthesised (sub)query around ``position`` (the whole text at the top).

    A table read inside a subquery can only be used outside through what the subquery
    selects, so the subquery's words are all the columns it can contribute."""
    depth, start = 0, 0
    for i in range(position - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                start = i + 1
                break
            depth -= 1
    depth, end = 0, len(text)
    for i in range(position, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            if depth == 0:
                end = i
                break
            depth -= 1
    return text[start:end]


def _previous_versions(
    client: Client, table: str, key: str, keys: pl.Series, columns: list[str]
) -> pl.DataFrame:
    """The stored (latest) version of the rows of ``dds.<table>`` with these keys."""
    holder = f"dds._impact_{table}_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {holder} (k String) ENGINE = Memory")
    try:
        client.insert_arrow(holder, pl.DataFrame({"k": keys.cast(pl.String)}).to_arrow())
        types = {
            str(name): str(kind)
            for name, kind in client.query(
                "SELECT name, type FROM system.columns"
                " WHERE database = 'dds' AND table = {t:String}",
                parameters={"t": table},
            ).result_rows
        }
        # UUIDs come back as raw bytes; the DDS frames hold them as text.
        selected = ", ".join(
            f"toString(`{c}`) AS `{c}`" if "UUID" in types[c] else f"`{c}`" for c in columns
        )
        table_arrow = client.query_arrow(
            f"SELECT {selected} FROM dds.{table}"
            f" WHERE `{key}` IN (SELECT toUUID(k) FROM {holder})"
            # The newest version by hand: FINAL would merge the whole table, not these keys.
            f" ORDER BY _version DESC LIMIT 1 BY `{key}` SETTINGS final = 0"
        )
    finally:
        client.command(f"DROP TABLE IF EXISTS {holder} SYNC")
    frame = pl.from_arrow(table_arrow)
    assert isinstance(frame, pl.DataFrame)
    return frame


@dataclass(frozen=True)
class Impact:
    """What new fact versions change, against the versions stored now."""

    changed: dict[str, pl.DataFrame]
    """Per fact, the rows that differ from their stored version in any column, or are new,
    with the rows numbered together with them (an order's attempts, a pipeline's stages):
    the only ones worth a new version (the others would be identical copies)."""
    plan: dict[str, datetime | None]
    """Derived tables whose inputs differ, each from the earliest placing time of a differing
    row, old or new version (``None`` when such a row has no placing time: all of it)."""


def compare_versions(client: Client, facts: Mapping[str, pl.DataFrame], inputs: Inputs) -> Impact:
    """Compare ``facts`` (new versions, not loaded yet) with the stored versions.

    Facts without a key here (the dimensions) count as changed whole and plan nothing: no
    derived table reads them.
    """
    changed: dict[str, pl.DataFrame] = {}
    plan: dict[str, datetime | None] = {}
    for fact, new in facts.items():
        key = FACT_KEYS.get(fact)
        if key is None or not new.height:
            changed[fact] = new
            continue
        old = _previous_versions(client, fact, key, new.get_column(key), new.columns)
        old = old.cast(new.schema)
        differ = new.join(old, on=new.columns, how="anti", nulls_equal=True)
        group = _FACT_GROUPS[fact]
        changed[fact] = new.filter(pl.col(group).is_in(differ.get_column(group).implode()))
        placing = [c for c in PLACING_COLUMNS if c in new.columns]
        for derived, reads in inputs.items():
            if fact not in reads:
                continue
            on = [key, *sorted(reads[fact] & set(new.columns) - {key})]
            differing = pl.concat(
                [
                    new.join(old, on=on, how="anti", nulls_equal=True),
                    old.join(new, on=on, how="anti", nulls_equal=True),
                ]
            )
            if not differing.height:
                continue
            earliest = (
                differing.select(pl.min_horizontal(placing).min()).item() if placing else None
            )
            plan = merge_plans(
                plan, {derived: earliest if isinstance(earliest, datetime) else None}
            )
    return Impact(changed, plan)


def merge_plans(*plans: Mapping[str, datetime | None]) -> dict[str, datetime | None]:
    """Refresh plans combined: each table from the earliest time of any (``None``: whole)."""
    merged: dict[str, datetime | None] = {}
    for plan in plans:
        for table, since in plan.items():
            if table not in merged:
                merged[table] = since
            elif since is None or (current := merged[table]) is None:
                merged[table] = None
            else:
                merged[table] = min(since, current)
    return merged
