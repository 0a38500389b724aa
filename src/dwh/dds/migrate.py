"""ClickHouse schema migrations: versioned ``.sql`` files applied once, in order, and recorded.

Layout: ``schemas/<layer>/NNN_<object>.sql`` with layers ``dds`` then ``marts``; within a layer
files apply by number. A file holds one object (a statement may be followed by others, each
ending with ``;`` at the end of a line). Applied files are recorded in ``dds.schema_migrations``
with their SHA-256; a recorded file whose content changed is refused, since the database no
longer matches it: change a schema with a new numbered file instead.

ClickHouse DDL is not transactional: a file that fails half-way is not recorded and runs again
next time, so statements are written re-runnable (``CREATE TABLE IF NOT EXISTS``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from dwh.config import get_settings
from dwh.dds.cluster import rewrite_statement
from dwh.errors import DwhError

LAYERS = ("dds", "marts")
MIGRATIONS_TABLE = "dds.schema_migrations"
DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"

_FILE_NAME = re.compile(r"^(?P<number>\d{3,})_(?P<object>[a-z][a-z0-9_]*)\.sql$")
# A statement ends with ';' at the end of a line; ';' inside a line (a string literal) is kept.
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")
_COMMENT_LINE = re.compile(r"^\s*--.*$", re.MULTILINE)


class MigrationError(DwhError):
    """The schema files and the applied migrations disagree; the message says which file."""


@dataclass(frozen=True)
class Migration:
    """One schema file: ``key`` is ``<layer>/<file name>``, as recorded in the database."""

    layer: str
    number: int
    path: Path

    @property
    def key(self) -> str:
        """The name recorded in the migrations table."""
        return f"{self.layer}/{self.path.name}"

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's bytes."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def statements(self) -> list[str]:
        """The statements of the file, comments-only chunks dropped."""
        text = self.path.read_text(encoding="utf-8")
        chunks = (chunk.strip() for chunk in _STATEMENT_END.split(text))
        return [chunk for chunk in chunks if _COMMENT_LINE.sub("", chunk).strip()]


def discover_migrations(schemas_dir: Path = DEFAULT_SCHEMAS_DIR) -> list[Migration]:
    """All schema files under ``schemas_dir`` in apply order; misnamed or clashing files raise."""
    found: list[Migration] = []
    for layer in LAYERS:
        layer_dir = schemas_dir / layer
        by_number: dict[int, Path] = {}
        for path in sorted(layer_dir.glob("*.sql")) if layer_dir.is_dir() else []:
            match = _FILE_NAME.match(path.name)
            if match is None:
                raise MigrationError(f"{path}: schema files are named NNN_<object>.sql")
            number = int(match["number"])
            if number in by_number:
                taken = by_number[number].name
                raise MigrationError(f"{path}: number {number} is taken by {taken}")
            by_number[number] = path
        found.extend(Migration(layer, number, by_number[number]) for number in sorted(by_number))
    return found


def _run_ddl(client: Client, statement: str, cluster: str) -> None:
    """Run one schema statement, rewritten for ``cluster`` when one is configured."""
    for ddl in rewrite_statement(statement, cluster) if cluster else [statement]:
        client.command(ddl)


def _ensure_bookkeeping(client: Client, cluster: str) -> None:
    for database in LAYERS:
        _run_ddl(client, f"CREATE DATABASE IF NOT EXISTS {database}", cluster)
    _run_ddl(
        client,
        f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}
        (
            migration String,
            checksum String,
            applied_at DateTime64(6, 'UTC')
        )
        ENGINE = MergeTree
        ORDER BY migration""",
        cluster,
    )


def applied_migrations(client: Client) -> dict[str, str]:
    """Recorded migrations: key → checksum."""
    rows = client.query(f"SELECT migration, checksum FROM {MIGRATIONS_TABLE}").result_rows
    return {str(key): str(checksum) for key, checksum in rows}


def _check_consistency(migrations: list[Migration], applied: dict[str, str]) -> None:
    changed = [m.key for m in migrations if m.key in applied and applied[m.key] != m.checksum]
    if changed:
        raise MigrationError(
            f"applied schema files changed since they ran: {', '.join(changed)}; "
            "restore them and add a new numbered file for the change"
        )
    for layer in LAYERS:
        layer_files = [m for m in migrations if m.layer == layer]
        last_applied = max((m.number for m in layer_files if m.key in applied), default=0)
        late = [m.key for m in layer_files if m.key not in applied and m.number < last_applied]
        if late:
            raise MigrationError(
                f"{', '.join(late)} numbered below an applied file; renumber after the last one"
            )


def apply_migrations(
    client: Client, schemas_dir: Path = DEFAULT_SCHEMAS_DIR, *, cluster: str | None = None
) -> list[str]:
    """Create ``dds`` and ``marts`` and apply the schema files not applied yet.

    Returns the keys (``<layer>/<file>``) applied by this call, in order; an up-to-date
    database returns ``[]``. Raises :class:`MigrationError`, before applying anything, if an
    applied file changed or a new file is numbered below an applied one. With a ``cluster``
    (default: ``DWH_CLICKHOUSE_CLUSTER``; ``""`` for none) every statement is rewritten by
    :mod:`dwh.dds.cluster` into ``ON CLUSTER`` DDL; the files and their checksums stay the same.
    """
    if cluster is None:
        cluster = get_settings().clickhouse_cluster
    migrations = discover_migrations(schemas_dir)
    _ensure_bookkeeping(client, cluster)
    applied = applied_migrations(client)
    _check_consistency(migrations, applied)
    done: list[str] = []
    for migration in migrations:
        if migration.key in applied:
            continue
        for statement in migration.statements():
            _run_ddl(client, statement, cluster)
        # Recorded only after every statement ran: a failed file is retried as a whole.
        client.command(
            f"INSERT INTO {MIGRATIONS_TABLE} (migration, checksum, applied_at) "
            "VALUES ({key:String}, {checksum:String}, now64(6, 'UTC'))",
            parameters={"key": migration.key, "checksum": migration.checksum},
        )
        done.append(migration.key)
    return done
