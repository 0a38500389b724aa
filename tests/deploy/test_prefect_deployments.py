"""prefect.yaml against a real Prefect server: the deployments register, and a worker runs them.

One ``prefect server start`` on a free loopback port with a throw-away ``PREFECT_HOME``, the
same commands the compose service ``prefect-deploy`` runs (create the process pool, ``prefect
deploy --all``), then a process worker executes one ``etl`` and one ``maintenance`` run against
test databases. The scheduler service is off, so only the runs the test creates exist.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import Dsns
from dwh.etl import clickhouse_session

from .stack import REPO, dwh_environment, load_yaml

PREFECT = [sys.executable, "-m", "prefect"]
STARTUP_SECONDS = 150.0
RUN_SECONDS = 150.0
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it spawned."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def prefect_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A running Prefect server on loopback; yields the environment that points at it."""
    home = tmp_path / "prefect"
    home.mkdir()
    url = f"http://127.0.0.1:{_free_port()}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DWH_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        # Only the runs the test creates: no scheduled runs of events/metrics to compete.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    port = url.rsplit(":", 1)[1].split("/")[0]
    log = home / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prefect server did not start:\n{_tail(log)}")
            time.sleep(0.5)
        yield env
    finally:
        _stop(server)


def _prefect(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [*PREFECT, "--no-prompt", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _api(env: dict[str, str], method: str, path: str, body: object = None) -> Any:
    response = httpx.request(method, env["PREFECT_API_URL"] + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _wait_for(env: dict[str, str], run_ids: list[str], worker_log: Path) -> dict[str, str]:
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        states = {
            run_id: _api(env, "GET", f"/flow_runs/{run_id}")["state"]["type"] for run_id in run_ids
        }
        if all(state in TERMINAL for state in states.values()):
            return states
        if time.monotonic() > deadline:
            pytest.fail(f"runs not finished ({states}):\n{_tail(worker_log)}")
        time.sleep(1)


def test_prefect_yaml_declares_every_flow_once() -> None:
    spec = load_yaml(REPO / "prefect.yaml")
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == {"etl", "events", "metrics", "maintenance"}
    for name, deployment in deployments.items():
        module, _, function = deployment["entrypoint"].partition(":")
        assert (REPO / module).is_file()
        assert f"def {function}(" in (REPO / module).read_text()
        assert deployment["concurrency_limit"]["limit"] == 1, name
        assert deployment["work_pool"]["name"] == "dwh"
    assert [s["interval"] for s in deployments["etl"]["schedules"]] == [300]
    assert [s["interval"] for s in deployments["events"]["schedules"]] == [60]
    assert [s["interval"] for s in deployments["metrics"]["schedules"]] == [60]
    assert deployments["maintenance"]["schedules"][0]["cron"].endswith("* * *")  # daily


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_deployments_register_and_a_worker_runs_them(
    prefect_env: dict[str, str], warehouse_dsns: Dsns, tmp_path: Path
) -> None:
    env = dwh_environment(warehouse_dsns, tmp_path / "home", WAREHOUSE_DIR=str(REPO), **prefect_env)
    _prefect(env, "work-pool", "create", "dwh", "--type", "process", "--overwrite")
    _prefect(env, "deploy", "--all")

    registered = {d["name"]: d for d in _api(env, "POST", "/deployments/filter", {})}
    assert set(registered) == {"etl", "events", "metrics", "maintenance"}
    for deployment in registered.values():
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
        assert deployment["work_pool_name"] == "dwh"
        # WAREHOUSE_DIR is resolved when deploying: runs start in the checkout's directory.
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]
    intervals = {
        name: [s["schedule"].get("interval") for s in deployment["schedules"]]
        for name, deployment in registered.items()
    }
    assert intervals["etl"] == [300.0]
    assert intervals["events"] == intervals["metrics"] == [60.0]

    # etl first, then maintenance (its reconciliation needs the run lock etl holds).
    run_ids = [
        _api(env, "POST", f"/deployments/{registered[name]['id']}/create_flow_run", {})["id"]
        for name in ("etl", "maintenance")
    ]
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "dwh", "--limit", "1", "--name", "test"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        states = _wait_for(env, run_ids, worker_log)
    finally:
        _stop(worker)
    assert states == dict.fromkeys(run_ids, "COMPLETED"), _tail(worker_log)

    with psycopg.connect(warehouse_dsns.source) as conn:
        row = conn.execute('SELECT count(*) FROM "order"').fetchone()
    with clickhouse_session(warehouse_dsns) as client:
        loaded = query_frame(client, "SELECT count() n FROM dds.fact_orders").item()
    assert row is not None
    assert loaded == row[0] == 300
