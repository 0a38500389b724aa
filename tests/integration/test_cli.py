"""The ``dwh`` command as a user runs it: separate processes on the embedded defaults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from dwh.config import Settings
from dwh.engines import embedded
from dwh.engines.embedded import ods_server_settings, start_embedded

DWH = [sys.executable, "-m", "dwh"]


def _env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_API"))}
    env["DWH_HOME"] = str(home)
    env.update(settings)
    return env


def _dwh(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*DWH, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _sql(env: dict[str, str], query: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(_dwh(env, "sql", query, "--format", "json").stdout)
    return rows


@pytest.mark.integration
def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    demo = _dwh(env, "demo", "--orders", "400")
    assert "Order funnel" in demo.stdout

    # Every embedded PostgreSQL stopped cleanly with the process that started it.
    for instance in ("source", "replica", "ods"):
        assert not (home / "pg" / instance / "postmaster.pid").exists(), instance

    # The replica is a real standby of the embedded source (started again here to look).
    dsns = start_embedded(Settings(home=home))
    with psycopg.connect(dsns.replica) as conn:
        in_recovery, orders = conn.execute(
            'SELECT pg_is_in_recovery(), (SELECT count(*) FROM "order")'
        ).fetchone() or (None, None)
    assert in_recovery is True
    assert orders == 400
    # The ODS instance runs with the buffer pool and WAL budget its loads are sized for.
    with psycopg.connect(dsns.ods) as conn:
        running = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("shared_buffers", "max_wal_size")
        }
    assert running == {name: (value,) for name, value in ods_server_settings().items()}
    assert _sql(env, "SELECT count() AS n FROM dds.fact_orders FINAL") == [{"n": 400}]
    assert _sql(env, "SELECT count() AS n FROM dds.fact_orders") == [{"n": 400}]

    # A second run reuses the embedded engines and changes nothing.
    _dwh(env, "run", "etl")
    assert _sql(env, "SELECT count() AS n FROM dds.fact_orders") == [{"n": 400}]
    csv = _dwh(env, "sql", "SELECT 1 AS one", "--format", "csv").stdout
    assert csv.splitlines() == ["one", "1"]


@pytest.mark.parametrize(
    ("memory_gib", "buffers"), [(0.5, "128MB"), (4, "512MB"), (16, "2048MB"), (64, "4096MB")]
)
def test_the_embedded_ods_buffer_pool_follows_memory(
    monkeypatch: pytest.MonkeyPatch, memory_gib: float, buffers: str
) -> None:
    monkeypatch.setattr(embedded, "_memory_bytes", lambda: int(memory_gib * 2**30))
    assert ods_server_settings()["shared_buffers"] == buffers


@pytest.mark.integration
def test_unreachable_dsn_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = _env(
        tmp_path / "home",
        DWH_SOURCE_DSN="postgresql://reader:s3cret-pw@127.0.0.1:1/source",
        DWH_REPLICA_DSN="postgresql://reader:s3cret-pw@127.0.0.1:1/source",
        DWH_ODS_DSN="postgresql://writer:s3cret-pw@127.0.0.1:1/ods",
    )
    result = _dwh(env, "migrate", check=False)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DWH_ODS_DSN" in lines[0]
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_malformed_setting_is_reported(tmp_path: Path) -> None:
    env = _env(tmp_path / "home", DWH_CLICKHOUSE_DSN="mysql://x")
    result = _dwh(env, "sql", "SELECT 1", check=False)

    assert result.returncode == 1
    assert "DWH_CLICKHOUSE_DSN" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_is_installed() -> None:
    assert shutil.which("dwh", path=str(Path(sys.executable).parent)) is not None
