"""Alembic for the ODS, configured in code: no ``alembic.ini``, the DSN comes from the caller.

The version table lives in schema ``ods`` next to the tables it versions, so one database can
host other schemas (and other Alembic histories) without collisions.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from dwh.errors import ConfigError
from dwh.ods._partitions import PARTITION_NAME
from dwh.ods.models import SCHEMA

REPO_ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS_DIR = REPO_ROOT / "migrations"
VERSION_TABLE = "alembic_version"


def sqlalchemy_url(dsn: str) -> str:
    """The libpq URL ``dsn`` as a SQLAlchemy URL on the psycopg 3 driver.

    Socket DSNs (``postgresql://postgres:@/db?host=/abs/dir``) keep their ``host`` query
    parameter, which SQLAlchemy hands to psycopg unchanged.
    """
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix) :]
    raise ConfigError("DWH_ODS_DSN", "must be a postgresql:// URL")


def include_name(
    name: str | None,
    type_: Literal[
        "schema", "table", "column", "index", "unique_constraint", "foreign_key_constraint"
    ],
    parent_names: MutableMapping[
        Literal["schema_name", "table_name", "schema_qualified_table_name"], str | None
    ],
) -> bool:
    """Autogenerate looks at schema ``ods`` only (``public`` and others belong to someone else)."""
    if type_ == "schema":
        return name == SCHEMA
    return True


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate ignores the monthly partitions of ``ods.events``: they are data, not DDL."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.match(name))


def context_options() -> dict[str, Any]:
    """Options shared by ``migrations/env.py`` and schema-drift checks (``compare_metadata``)."""
    return {
        "version_table": VERSION_TABLE,
        "version_table_schema": SCHEMA,
        "include_schemas": True,
        "include_name": include_name,
        "include_object": include_object,
        "compare_type": True,
    }


def _run(dsn: str, action: str, revision: str) -> None:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ConfigError("migrations", f"Alembic scripts not found in {MIGRATIONS_DIR}")
    engine = create_engine(make_url(sqlalchemy_url(dsn)), poolclass=NullPool)
    try:
        try:
            connection = engine.connect()
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[-1] if exc.orig else type(exc).__name__
            raise ConfigError("DWH_ODS_DSN", f"cannot connect to PostgreSQL ({reason})") from None
        with connection, connection.begin():
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            # Passing the connection (not the URL) keeps '%' in encoded DSNs away from
            # configparser interpolation and makes the whole migration one transaction.
            config.attributes["connection"] = connection
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    finally:
        engine.dispose()


def upgrade_ods(dsn: str, revision: str = "head") -> None:
    """Migrate the ODS database at ``dsn`` up to ``revision`` (default: the latest)."""
    _run(dsn, "upgrade", revision)


def downgrade_ods(dsn: str, revision: str) -> None:
    """Migrate the ODS database at ``dsn`` down to ``revision`` (``"-1"``, ``"base"``, an id).

    ``"base"`` drops every ODS object except schema ``ods`` itself, which keeps Alembic's
    (then empty) version table.
    """
    _run(dsn, "downgrade", revision)
