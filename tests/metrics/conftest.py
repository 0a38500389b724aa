"""A real Prometheus scraping a test exporter that publishes the prober's metric names.

The exporter is prometheus-client on loopback with its own registry: the prober's counters and
duration gauge (DESIGN §1) plus the process and Python collectors. Prometheus (Debian's
package) runs from a temporary config on a free loopback port and scrapes it every second.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from dwh.engines.embedded import Dsns
from dwh.etl import migrate

from .system import free_port, require_program, stop

SCRAPE_JOB = "prober"


@dataclass
class Exporter:
    """The prober's metrics, served at ``address``."""

    address: str
    registry: CollectorRegistry
    create_total: Counter
    create_success: Counter
    create_fail: Counter
    create_duration: Gauge
    cancel_total: Counter
    cancel_success: Counter
    cancel_fail: Counter


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    """The exporter, with known starting values set before anything scrapes it."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(GC_COLLECTOR)

    def counter(name: str) -> Counter:
        return Counter(name, name, registry=registry)

    exported = Exporter(
        address="",
        registry=registry,
        create_total=counter("prober_create_orders"),
        create_success=counter("prober_create_orders_success"),
        create_fail=counter("prober_create_orders_fail"),
        create_duration=Gauge(
            "prober_create_orders_duration_seconds", "duration", registry=registry
        ),
        cancel_total=counter("prober_cancel_orders"),
        cancel_success=counter("prober_cancel_orders_success"),
        cancel_fail=counter("prober_cancel_orders_fail"),
    )
    exported.create_total.inc(10)
    exported.create_success.inc(9)
    exported.create_fail.inc(1)
    exported.create_duration.set(0.25)
    exported.cancel_total.inc(4)
    exported.cancel_success.inc(3)
    exported.cancel_fail.inc(1)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    exported.address = f"127.0.0.1:{server.server_port}"
    yield exported
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready at {url} within 60 s")


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prometheus scraping ``exporter`` every second."""
    binary = require_program("prometheus", "prometheus")
    root = tmp_path_factory.mktemp("prometheus")
    config = root / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {SCRAPE_JOB}\n"
        "    static_configs:\n"
        f"      - targets: ['{exporter.address}']\n",
        encoding="utf-8",
    )
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/-/ready", process, "prometheus")
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Pushgateway (Debian's ``prometheus-pushgateway``) on loopback."""
    binary = require_program("prometheus-pushgateway", "prometheus-pushgateway")
    port = free_port()
    log = (tmp_path_factory.mktemp("pushgateway") / "pushgateway.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/-/ready", process, "pushgateway")
        yield url
    finally:
        stop(process)
        log.close()


def instant(prometheus_url: str, expr: str) -> list[float]:
    """Values of an instant query, one per series."""
    body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return [float(item["value"][1]) for item in body["data"]["result"]]


def wait_for_value(prometheus_url: str, expr: str, value: float, timeout: float = 30) -> None:
    """Block until Prometheus returns ``value`` for ``expr``."""
    deadline = time.monotonic() + timeout
    while instant(prometheus_url, expr) != [value]:
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never saw {expr} == {value}")
        time.sleep(0.2)


def wait_for_history(prometheus_url: str, expr: str, samples: int = 4) -> None:
    """Block until Prometheus holds ``samples`` scrapes of ``expr`` from the last minute, so
    that a run with a small delay finds evaluation times after the first scrape."""
    wait_for_value(prometheus_url, f"count_over_time({expr}[1m]) >= bool {samples}", 1)


@pytest.fixture
def warehouse(pg_dsn: str, chdb_dsn: str) -> Dsns:
    """A migrated ODS (for ``ods.load_state``) and chDB; no source data."""
    dsns = Dsns(source=pg_dsn, replica=pg_dsn, ods=pg_dsn, clickhouse=chdb_dsn)
    migrate(dsns)
    return dsns


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty ``DWH_HOME``."""
    return tmp_path / "home"
