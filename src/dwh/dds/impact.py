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
from datetime import UTC, datetime

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
# The time leading each fact's sorting key (after the stage name for stages). It never
# changes, so every stored version of a row has the new version's value.
_SORTING_TIME = {
    "fact_orders": "registered_at",
    "fact_deliveries": "created_at",
    "fact_stages": "created_at",
}
PLACING_COLUMNS = ("registered_at", "created_at", "event_timestamp")
"""Columns that place a fact row in the hourly tables and daily marts."""

# Column names of the stored versions beside the new ones in compare_versions.
_OLD = "__stored"
_STORED = "__is_stored"
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


def _utc_span(times: pl.Series) -> tuple[str, str]:
    """SQL literals of the earliest and the latest of ``times``, in UTC."""
    bounds: list[str] = []
    for moment in (times.min(), times.max()):
        if not isinstance(moment, datetime):
            raise TypeError(f"{times.name} must be a non-empty datetime column, got {moment!r}")
        naive = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
        bounds.append(f"toDateTime64('{naive.isoformat(sep=' ')}', 6, 'UTC')")
    return bounds[0], bounds[1]


def _previous_versions(client: Client, table: str, key: str, new: pl.DataFrame) -> pl.DataFrame:
    """The stored (latest) version of the rows of ``dds.<table>`` with the keys of ``new``."""
    holder = f"dds._impact_{table}_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {holder} (k String) ENGINE = Memory")
    try:
        client.insert_arrow(
            holder, pl.DataFrame({"k": new.get_column(key).cast(pl.String)}).to_arrow()
        )
        types = {
            str(name): str(kind)
            for name, kind in client.query(
                "SELECT name, type FROM system.columns"
                " WHERE database = 'dds' AND table = {t:String}",
                parameters={"t": table},
            ).result_rows
        }
        # UUIDs come back as raw bytes; the DDS frames hold them as text. Converted outside,
        # on the rows found only, not on every row of the granules read.
        converted = ", ".join(
            f"toString(`{c}`) AS `{c}`" if "UUID" in types[c] else f"`{c}`" for c in new.columns
        )
        quoted = ", ".join(f"`{c}`" for c in new.columns)
        time_column = _SORTING_TIME[table]
        low, high = _utc_span(new.get_column(time_column))
        table_arrow = client.query_arrow(
            f"SELECT {converted} FROM (SELECT {quoted} FROM dds.{table}"
            f" WHERE `{key}` IN (SELECT toUUID(k) FROM {holder})"
            # Every stored version of a row has its time: the range skips other partitions
            # and, the time leading the sorting key, most granules when the rows are recent.
            f" AND `{time_column}` BETWEEN {low} AND {high}"
            # The newest version by hand: FINAL would merge the whole table, not these keys.
            f" ORDER BY _version DESC LIMIT 1 BY `{key}`) SETTINGS final = 0"
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
        old = _previous_versions(client, fact, key, new).cast(new.schema)
        # One row per new version, beside its stored version's columns (suffixed) if any: one
        # join answers every derived table, instead of a pair of anti-joins per table.
        paired = new.join(
            old.with_columns(pl.lit(True).alias(_STORED)), on=key, how="left", suffix=_OLD
        )
        columns = [c for c in new.columns if c != key]
        group = _FACT_GROUPS[fact]
        differ = paired.filter(_differs(columns)).get_column(group)
        changed[fact] = new.filter(pl.col(group).is_in(differ.implode()))
        placing = [c for c in PLACING_COLUMNS if c in new.columns]
        # A differing row's old version places it too (a row moved out of an hour).
        both = [pl.col(c) for c in placing] + [pl.col(f"{c}{_OLD}") for c in placing]
        for derived, reads in inputs.items():
            if fact not in reads:
                continue
            differing = paired.filter(_differs(sorted(reads[fact] & set(columns))))
            if not differing.height:
                continue
            earliest = differing.select(pl.min_horizontal(both).min()).item() if both else None
            plan = merge_plans(
                plan, {derived: earliest if isinstance(earliest, datetime) else None}
            )
    return Impact(changed, plan)


def _differs(columns: list[str]) -> pl.Expr:
    """Rows of a pairing whose new version has no stored one or differs from it in ``columns``
    (NULL equal to NULL)."""
    new_row = pl.col(_STORED).is_null()
    if not columns:
        return new_row
    return new_row | pl.any_horizontal(~pl.col(c).eq_missing(pl.col(f"{c}{_OLD}")) for c in columns)


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
