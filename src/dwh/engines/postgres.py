"""PostgreSQL connections: one code path for a server DSN and an embedded (socket) DSN."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import psycopg

from dwh.errors import ConfigError


def connect(dsn: str, setting: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a psycopg connection; failures raise :class:`ConfigError` naming ``setting``."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        # libpq reports over several lines; one line, whitespace collapsed, is enough to act on.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(setting, f"cannot connect to PostgreSQL ({reason})") from None


def connectorx_url(dsn: str) -> str:
    """Rewrite a libpq URL for connectorx, which wants the socket directory as an encoded host."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    socket_dir = query.pop("host", [None])[0]
    if socket_dir is None:
        return dsn
    userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else "postgres"
    userinfo = userinfo.rstrip(":")
    port = query.pop("port", ["5432"])[0]
    netloc = f"{userinfo}@{quote(socket_dir, safe='')}:{port}"
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    return urlunsplit((parts.scheme, netloc, parts.path, rest, ""))


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database on the same server."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def ensure_database(dsn: str, setting: str) -> None:
    """Create the DSN's database if it does not exist (connecting to ``postgres`` to do it)."""
    database = urlsplit(dsn).path.lstrip("/") or "postgres"
    with connect(with_database(dsn, "postgres"), setting, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
