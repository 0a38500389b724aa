"""Alembic environment of the ODS (schema ``ods``).

Run through :func:`dwh.ods.upgrade_ods` / :func:`dwh.ods.downgrade_ods`, which build the Alembic
config in code and hand over an open connection in ``config.attributes["connection"]``. A
``sqlalchemy.url`` main option works too (offline SQL generation, ad-hoc use).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from dwh.ods._migrate import context_options, sqlalchemy_url
from dwh.ods.models import SCHEMA, Base

config = context.config
target_metadata = Base.metadata


# Two processes starting at once (CLI and a flow) must not both run the same migration.
_LOCK_KEY = 0x0D5_A1E3


def _migrate(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # The version table lives in schema ods, which must exist before Alembic creates it.
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(connection=connection, target_metadata=target_metadata, **context_options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the migration SQL instead of running it."""
    context.configure(
        url=sqlalchemy_url(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=target_metadata,
        literal_binds=True,
        **context_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection (or on one opened from ``sqlalchemy.url``)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.begin() as opened:
        _migrate(opened)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
