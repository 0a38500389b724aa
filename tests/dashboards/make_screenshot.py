"""Make ``docs/report.png``: the report of a demo warehouse that also has a day of metrics.

Usage (from ``tests/``, with ``dwh demo`` already run in ``DWH_HOME``)::

    python -m dashboards.make_screenshot /path/to/dwh-home ../docs/report.png

The demo has no Prometheus, so this writes a simulated day of the prober's and the consumer's
metrics as OpenMetrics, turns it into TSDB blocks with ``promtool``, starts a real Prometheus
on them (loopback, free port) and runs ``dwh run metrics`` against it: the metrics reach the
warehouse through the real ingest path. Then ``dwh report`` and a headless Chromium screenshot.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from metrics.system import free_port, require_program, stop

from dashboards.browser import Browser

STEP = 15  # seconds between simulated scrapes
HOURS = 24


def _openmetrics(end: datetime) -> str:
    """A day of simulated metrics; an incident two hours ago raises failures, latency, lag."""
    rng = random.Random(7)
    start = int((end - timedelta(hours=HOURS)).timestamp()) // STEP * STEP
    stamps = list(range(start, int(end.timestamp()), STEP))
    incident = (end - timedelta(hours=3)).timestamp(), (end - timedelta(hours=2)).timestamp()
    prober = 'job="prober",instance="prober:6200"'
    families: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, line: str) -> None:
        families.setdefault(family, (kind, []))[1].append(line)

    totals = dict.fromkeys(
        ["create", "create_ok", "create_fail", "cancel", "cancel_ok", "cancel_fail"], 0.0
    )
    consumed = {"trigger": 0.0, "result": 0.0}
    dead = 0.0
    for ts in stamps:
        bad = incident[0] <= ts < incident[1]
        daily = 1 + 0.5 * math.sin(2 * math.pi * ((ts / 3600) % 24) / 24)
        made = rng.randint(2, 4)
        failed = sum(rng.random() < (0.25 if bad else 0.03) for _ in range(made))
        totals["create"] += made
        totals["create_fail"] += failed
        totals["create_ok"] += made - failed
        canceled = rng.randint(0, 1)
        cancel_failed = canceled if rng.random() < 0.05 else 0
        totals["cancel"] += canceled
        totals["cancel_fail"] += cancel_failed
        totals["cancel_ok"] += canceled - cancel_failed
        for name, key in (
            ("prober_create_orders", "create"),
            ("prober_create_orders_success", "create_ok"),
            ("prober_create_orders_fail", "create_fail"),
            ("prober_cancel_orders", "cancel"),
            ("prober_cancel_orders_success", "cancel_ok"),
            ("prober_cancel_orders_fail", "cancel_fail"),
        ):
            add(name, "counter", f"{name}_total{{{prober}}} {totals[key]} {ts}")
        latency = rng.lognormvariate(math.log(0.9 if bad else 0.12), 0.3)
        add(
            "prober_create_orders_duration_seconds",
            "gauge",
            f"prober_create_orders_duration_seconds{{{prober}}} {latency:.4f} {ts}",
        )
        for kind in consumed:
            consumed[kind] += round(rng.randint(8, 14) * daily)
            add(
                "dwh_events_consumed",
                "counter",
                f'dwh_events_consumed_total{{job="dwh-consumer",event_type="{kind}"}}'
                f" {consumed[kind]} {ts}",
            )
        for topic in ("trigger-channel", "result-channel"):
            lag = rng.randint(300, 600) if bad else rng.randint(0, 25)
            add(
                "dwh_consumer_lag_messages",
                "gauge",
                f'dwh_consumer_lag_messages{{job="dwh-consumer",topic="{topic}",partition="0"}}'
                f" {lag} {ts}",
            )
        dead += 1 if rng.random() < (0.05 if bad else 0.002) else 0
        add(
            "dwh_dead_letters",
            "counter",
            f'dwh_dead_letters_total{{job="dwh-consumer",topic="result-channel"}} {dead} {ts}',
        )
        for job, base in (("prober", 4.2e7), ("http-api", 9.5e7), ("dwh-consumer", 1.6e8)):
            memory = base * (1 + 0.1 * math.sin(ts / 5000)) + rng.randint(0, 2_000_000)
            add(
                "process_resident_memory_bytes",
                "gauge",
                f'process_resident_memory_bytes{{job="{job}"}} {memory:.0f} {ts}',
            )
    lines: list[str] = []
    for family, (kind, samples) in families.items():
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _dwh(home: Path, *args: str, **settings: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_API"))}
    env.update(DWH_HOME=str(home), **settings)
    subprocess.run([sys.executable, "-m", "dwh", *args], env=env, check=True)


def main(home: Path, output: Path) -> None:
    """Load a day of metrics into the demo warehouse at ``home``, screenshot its report."""
    prometheus = require_program("prometheus", "prometheus")
    promtool = require_program("promtool", "prometheus")
    chromium = require_program("chromium", "chromium")
    with tempfile.TemporaryDirectory(prefix="dwh-shot-") as scratch:
        root = Path(scratch)
        (root / "metrics.om").write_text(_openmetrics(datetime.now(UTC)), encoding="utf-8")
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
             str(root / "metrics.om"), str(root / "data")],
            check=True,
        )  # fmt: skip
        (root / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
        port = free_port()
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                "--storage.tsdb.retention.time=30d",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ]
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            _dwh(
                home,
                "run",
                "metrics",
                DWH_PROMETHEUS_URL=url,
                DWH_PROMETHEUS_STEP_SECONDS="60",
                DWH_PROMETHEUS_LOOKBACK_SECONDS=str(HOURS * 3600),
            )
        finally:
            stop(server)
        _dwh(home, "report")
        browser = Browser(chromium, root / "chromium")
        try:
            browser.open((home / "report.html").as_uri())
            browser.wait_until("document.body.dataset.drawn === document.body.dataset.panels")
            if browser.errors:
                raise SystemExit(f"the report logged errors: {browser.errors}")
            browser.screenshot(output)
        finally:
            browser.close()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).absolute(), Path(sys.argv[2]).absolute())
