"""Rewrite single-server ClickHouse DDL for a cluster (``DWH_CLICKHOUSE_CLUSTER``).

The schema files under ``schemas/`` are written once, for one server (or chDB). With a cluster
configured, the migration runner passes every statement through :func:`rewrite_statement`,
which emits ``ON CLUSTER`` DDL following one rule:

- **Facts** (``dds.fact_*`` tables) are sharded. The table keeps its name, so loaders, marts
  and dashboards see no difference, but becomes a ``Distributed`` table over a
  ``<name>_local`` table on every node, engine ``Replicated<Engine>`` with the ZooKeeper path
  :data:`SHARDED_PATH` (one replica set per shard). Rows are routed by ``cityHash64`` of the
  sorting key: the sorting key is the ``ReplacingMergeTree`` dedup key, so every version of a
  row lands on the same shard and ``FINAL`` (applied per shard) still collapses them.
- **Everything else** (dimensions, hourly tables, marts, the migrations table) is small and is
  replicated whole to every node (:data:`REPLICATED_PATH` has no ``{shard}``): joins with it
  stay local on every shard, and the partition swaps that rebuild derived tables work on any
  one replica and reach the others through replication.
- Views and databases only gain ``ON CLUSTER``; ``ALTER``/``DROP``/``TRUNCATE``/``OPTIMIZE``
  of a fact go to its local table (column changes to the ``Distributed`` table as well).

Paths use the ``{uuid}`` macro (ClickHouse's own default), which the initiator of an
``ON CLUSTER`` query fills in identically on every host; ``{shard}`` and ``{replica}`` come
from each server's ``<macros>``, and ``{replica}`` must be unique across the whole cluster
(whole-cluster tables have every node as a replica). The client session must insert into
``Distributed`` tables synchronously (``distributed_foreground_insert = 1``: a refresh right
after a load must see the rows) and answer fact-to-fact joins with ``distributed_product_mode
= 'global'``; ``deploy/clickhouse/users.d/`` sets both in the warehouse user's profile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise

from dwh.errors import DwhError

LOCAL_SUFFIX = "_local"
SHARDED_DATABASE = "dds"
SHARDED_PREFIX = "fact_"
SHARDED_PATH = "/clickhouse/tables/{uuid}/{shard}"
REPLICATED_PATH = "/clickhouse/tables/{uuid}/all"
REPLICA_NAME = "{replica}"
#: Session settings a cluster client needs (see the module docstring).
CLUSTER_SESSION_SETTINGS: dict[str, object] = {
    "distributed_foreground_insert": 1,
    "distributed_product_mode": "global",
}

_CLUSTER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IDENT = r"(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)"
_MERGE_TREE = re.compile(
    r"^(?:Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite|Coalescing)?"
    r"MergeTree$"
)
_CREATE = re.compile(
    r"^CREATE\s+(?P<kind>TABLE|VIEW|MATERIALIZED\s+VIEW|DATABASE|DICTIONARY)\s+"
    rf"(?P<ine>IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.IGNORECASE,
)
_AFTER_NAME = re.compile(
    r"^(?P<verb>ALTER\s+TABLE|TRUNCATE(?:\s+TABLE)?|OPTIMIZE\s+TABLE|"
    r"DROP\s+(?:TABLE|VIEW|DICTIONARY|DATABASE))\s+"
    rf"(?P<ie>IF\s+EXISTS\s+)?{_NAME}",
    re.IGNORECASE,
)
_UNSUPPORTED = re.compile(
    r"^(?:RENAME|EXCHANGE|ATTACH|DETACH|CREATE\s+OR\s+REPLACE|REPLACE)\b", re.IGNORECASE
)
_ENGINE = re.compile(r"ENGINE\s*=\s*(?P<engine>[A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_CLAUSES = re.compile(
    r"\b(?:PARTITION\s+BY|PRIMARY\s+KEY|ORDER\s+BY|SAMPLE\s+BY|TTL|SETTINGS|COMMENT)\b",
    re.IGNORECASE,
)
_COLUMN_COMMAND = re.compile(r"^(?:ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.IGNORECASE)
_ON_CLUSTER = re.compile(r"\bON\s+CLUSTER\b", re.IGNORECASE)
_REPLICATED_ARGS = re.compile(r"^\s*'(?:[^'\\]|\\.)*'\s*,\s*'(?:[^'\\]|\\.)*'\s*,?\s*")


class ClusterDdlError(DwhError):
    """A schema statement cannot be rewritten for a cluster; the message says why."""


@dataclass(frozen=True)
class TableName:
    """A ``database.table`` name as written in a statement (backticks removed)."""

    database: str
    table: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        """Parse ``db.table`` (either part may be back-quoted); a bare name is refused."""
        parts = [part.strip().strip("`") for part in text.split(".")]
        if len(parts) != 2:
            raise ClusterDdlError(f"{text}: name the database (db.table) in schema files")
        return cls(parts[0], parts[1])

    @property
    def is_sharded(self) -> bool:
        """Facts are sharded; every other table is replicated whole to every node."""
        return self.database == SHARDED_DATABASE and self.table.startswith(SHARDED_PREFIX)

    @property
    def local(self) -> TableName:
        """Where a fact's rows live on each shard; other tables are their own local table."""
        return TableName(self.database, self.table + LOCAL_SUFFIX) if self.is_sharded else self

    def __str__(self) -> str:
        return f"{self.database}.{self.table}"


def check_cluster_name(cluster: str) -> str:
    """Return ``cluster`` if it is a plain identifier (it is spliced into DDL unquoted)."""
    if not _CLUSTER_NAME.match(cluster):
        raise ClusterDdlError(f"DWH_CLICKHOUSE_CLUSTER: {cluster!r} is not a plain identifier")
    return cluster


def _segments(text: str) -> Iterator[tuple[int, int, str]]:
    """Split ``text`` into ``(start, end, kind)`` runs: ``code``, ``quoted`` or ``comment``."""
    start = i = 0
    while i < len(text):
        char = text[i]
        end = -1
        kind = ""
        if char in "'`\"":
            end = i + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            end, kind = min(end + 1, len(text)), "quoted"
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            end, kind = (len(text) if newline < 0 else newline), "comment"
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            end, kind = (len(text) if close < 0 else close + 2), "comment"
        if not kind:
            i += 1
            continue
        if start < i:
            yield start, i, "code"
        yield i, end, kind
        start = i = end
    if start < len(text):
        yield start, len(text), "code"


def _code_positions(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(index, paren depth)`` of every character outside quotes and comments.

    Depth 0 is outside any parentheses; a parenthesis itself counts as inside.
    """
    depth = 0
    for start, end, kind in _segments(text):
        if kind != "code":
            continue
        for index in range(start, end):
            char = text[index]
            if char == "(":
                depth += 1
            yield index, depth
            if char == ")":
                depth -= 1


def strip_comments(statement: str) -> str:
    """``statement`` without comments, blank lines and a final ``;``; literals kept."""
    text = "".join(
        statement[start:end] if kind != "comment" else ("" if statement[start] == "-" else " ")
        for start, end, kind in _segments(statement)
    )
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines).strip().rstrip(";").rstrip()


def _matching_paren(text: str, open_index: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_index``."""
    for index, depth in _code_positions(text[open_index:]):
        if text[open_index + index] == ")" and depth == 1:
            return open_index + index
    raise ClusterDdlError(f"unbalanced parentheses in: {text[:80]}")


def _top_level_matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches of ``pattern`` that start outside parentheses, quotes and comments."""
    top = {index for index, depth in _code_positions(text) if depth == 0}
    return [m for m in pattern.finditer(text) if m.start() in top]


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    cuts = [i for i, depth in _code_positions(text) if depth == 0 and text[i] == separator]
    bounds = [-1, *cuts, len(text)]
    return [text[a + 1 : b].strip() for a, b in pairwise(bounds)]


def sharding_key(table_tail: str) -> str:
    """``cityHash64(<sorting key columns>)`` from the clauses after ``ENGINE = …``."""
    clauses = _top_level_matches(_CLAUSES, table_tail)
    order = next((m for m in clauses if m[0].upper().startswith("ORDER")), None)
    if order is None:
        raise ClusterDdlError("a sharded table needs ORDER BY: its sorting key routes the rows")
    following = [m.start() for m in clauses if m.start() > order.start()]
    expression = table_tail[order.end() : min(following, default=len(table_tail))].strip()
    if expression.startswith("(") and _matching_paren(expression, 0) == len(expression) - 1:
        expression = expression[1:-1].strip()
    columns = [column for column in _split_top_level(expression) if column]
    if not columns or expression.lower() == "tuple()":
        raise ClusterDdlError("a sharded table needs a non-empty sorting key")
    return f"cityHash64({', '.join(columns)})"


def _replicated_engine(engine: str, args: str, path: str) -> str:
    inner = args.strip()
    rest = f", {inner}" if inner else ""
    return f"Replicated{engine}('{path}', '{REPLICA_NAME}'{rest})"


def _with_cluster(
    statement: str, head: re.Match[str], cluster: str, name: TableName | None = None
) -> str:
    """``statement`` with ``ON CLUSTER`` after the object name (optionally renamed)."""
    rest = statement[head.end("name") :]
    if _ON_CLUSTER.match(rest.lstrip()):
        raise ClusterDdlError(f"{head['name']}: schema files must not name a cluster")
    named = head["name"] if name is None else str(name)
    return f"{statement[: head.start('name')]}{named} ON CLUSTER {cluster}{rest}"


def _rewrite_create_table(statement: str, head: re.Match[str], cluster: str) -> list[str]:
    name = TableName.parse(head["name"])
    body = statement[head.end() :].lstrip()
    if _ON_CLUSTER.match(body):
        raise ClusterDdlError(f"{name}: schema files must not name a cluster")
    if not body.startswith("("):
        raise ClusterDdlError(f"{name}: cluster mode needs an explicit column list")
    columns_start = statement.index("(", head.end())
    columns_end = _matching_paren(statement, columns_start)
    columns = statement[columns_start : columns_end + 1]
    tail = statement[columns_end + 1 :]
    engine = next(iter(_top_level_matches(_ENGINE, tail)), None)
    if engine is None or not _MERGE_TREE.match(engine["engine"]):
        if engine is not None and engine["engine"].startswith("Replicated"):
            raise ClusterDdlError(f"{name}: write schema files for one server (no Replicated*)")
        # Memory, Log, Null...: one copy per node is all ON CLUSTER can mean for them.
        return [_with_cluster(statement, head, cluster)]
    if tail[: engine.start()].strip():
        raise ClusterDdlError(f"{name}: unexpected text before ENGINE")
    args = ""
    clauses_start = engine.end()
    after_engine = tail[clauses_start:]
    if after_engine.lstrip().startswith("("):
        args_start = clauses_start + after_engine.index("(")
        args_end = _matching_paren(tail, args_start)
        args = tail[args_start + 1 : args_end]
        clauses_start = args_end + 1
    clauses = tail[clauses_start:].rstrip()
    path = SHARDED_PATH if name.is_sharded else REPLICATED_PATH
    if_not_exists = "IF NOT EXISTS " if head["ine"] else ""
    local_ddl = (
        f"CREATE TABLE {if_not_exists}{name.local} ON CLUSTER {cluster}\n{columns}\n"
        f"ENGINE = {_replicated_engine(engine['engine'], args, path)}{clauses}"
    )
    if not name.is_sharded:
        return [local_ddl]
    distributed = (
        f"CREATE TABLE {if_not_exists}{name} ON CLUSTER {cluster} AS {name.local}\n"
        f"ENGINE = Distributed('{cluster}', '{name.database}', '{name.local.table}', "
        f"{sharding_key(clauses)})"
    )
    return [local_ddl, distributed]


def _rewrite_after_name(statement: str, head: re.Match[str], cluster: str) -> list[str]:
    verb = " ".join(head["verb"].upper().split())
    if verb in {"DROP DATABASE", "DROP VIEW", "DROP DICTIONARY"}:
        return [_with_cluster(statement, head, cluster)]
    name = TableName.parse(head["name"])
    if not name.is_sharded:
        return [_with_cluster(statement, head, cluster)]
    on_local = _with_cluster(statement, head, cluster, name.local)
    on_distributed = _with_cluster(statement, head, cluster)
    if verb == "DROP TABLE":
        # The Distributed table first: it must not outlive the rows it points at.
        return [on_distributed, on_local]
    if verb == "ALTER TABLE":
        commands = _split_top_level(statement[head.end() :])
        column_commands = [c for c in commands if _COLUMN_COMMAND.match(c)]
        if column_commands and len(column_commands) != len(commands):
            raise ClusterDdlError(
                f"{name}: put column changes and other ALTER commands in separate statements"
            )
        if column_commands:
            # Local tables first: the Distributed table must not name columns they lack.
            return [on_local, on_distributed]
    return [on_local]


def rewrite_statement(statement: str, cluster: str) -> list[str]:
    """The statements that apply ``statement`` (written for one server) to ``cluster``.

    Comments are dropped. ``CREATE TABLE`` of a fact yields two statements (the replicated
    local table, then the ``Distributed`` table); other DDL yields one with ``ON CLUSTER``;
    statements that are not DDL (``INSERT``, ``SELECT``) pass through unchanged and reach
    facts through their ``Distributed`` tables. ``RENAME``/``EXCHANGE``/``ATTACH``/``DETACH``
    and materialized views raise :class:`ClusterDdlError`: write those by hand for a cluster.
    """
    check_cluster_name(cluster)
    text = strip_comments(statement)
    if not text:
        return []
    if _UNSUPPORTED.match(text):
        raise ClusterDdlError(f"{text[:60]}…: not supported in cluster mode; write it by hand")
    create = _CREATE.match(text)
    if create is not None:
        kind = " ".join(create["kind"].upper().split())
        if kind == "MATERIALIZED VIEW":
            raise ClusterDdlError(
                f"{create['name']}: materialized views are not rewritten for a cluster "
                "(the warehouse recomputes derived tables instead)"
            )
        if kind == "TABLE":
            return _rewrite_create_table(text, create, cluster)
        return [_with_cluster(text, create, cluster)]
    after_name = _AFTER_NAME.match(text)
    if after_name is not None:
        return _rewrite_after_name(text, after_name, cluster)
    return [text]


def rewrite_statements(statements: Iterable[str], cluster: str) -> list[str]:
    """:func:`rewrite_statement` over several statements, in order."""
    return [out for statement in statements for out in rewrite_statement(statement, cluster)]


def staging_engine(engine_full: str) -> str:
    """The non-replicated twin of a table's ``engine_full`` (from ``system.tables``).

    A staging copy made with ``CREATE TABLE s AS t`` would inherit ``t``'s replication path
    (and ``{uuid}`` is refused outside ``ON CLUSTER``); ``CREATE TABLE s AS t ENGINE = <this>``
    keeps the partition and sorting keys that ``REPLACE PARTITION … FROM s`` requires. An
    engine that is not replicated is returned unchanged.
    """
    match = re.match(r"^\s*Replicated(?P<engine>[A-Za-z]*MergeTree)\s*\(", engine_full)
    if match is None:
        return engine_full.strip()
    args_end = _matching_paren(engine_full, match.end() - 1)
    args = engine_full[match.end() : args_end]
    remaining = _REPLICATED_ARGS.sub("", args, count=1) if _REPLICATED_ARGS.match(args) else args
    return f"{match['engine']}({remaining.strip()}){engine_full[args_end + 1 :]}".strip()
