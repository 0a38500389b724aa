"""Warehouse metrics out: every Prometheus metric ``dwh`` exports is defined here, once.

Two kinds of processes report through this module:

- **Batch runs** (``dwh run etl``, ``dwh run metrics``, the Prefect flows) wrap their work in
  :func:`track_run` (or decorate it with :func:`observed_etl`). When the run ends, whatever
  its outcome, its figures are recorded in ``dds.fact_warehouse_runs`` → ``marts.warehouse_runs``
  (so the HTML report and the ClickHouse dashboards show run health without a Prometheus), and
  pushed to the Pushgateway when ``DWH_PUSHGATEWAY_URL`` is set (a batch process is gone before
  Prometheus could scrape it). Recording or pushing never fails the run: a problem there is
  logged as a warning.
- **Long-running processes** (the events consumer) count with :func:`record_events_consumed`,
  :func:`record_dead_letters`, :func:`set_consumer_lag` and :func:`record_loaded`, and expose
  the registry with :func:`serve_metrics` for Prometheus to scrape.

All metrics live in :data:`REGISTRY`, not prometheus-client's global one, so a push carries only
the warehouse's metrics and importing this module twice (tests, Prefect) cannot clash.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import polars as pl
from prometheus_client import CollectorRegistry, Counter, Gauge, Metric, push_to_gateway
from prometheus_client.exposition import basic_auth_handler, default_handler, start_http_server
from prometheus_client.registry import Collector

from dwh.config import Settings
from dwh.errors import mask_secrets

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

ROWS_EXTRACTED = Counter(
    "dwh_rows_extracted", "Rows read from the replica, by table.", ["table"], registry=REGISTRY
)
ROWS_LOADED = Counter(
    "dwh_rows_loaded",
    "Rows written, by layer (ods, dds) and table; ODS counts inserted plus changed rows.",
    ["layer", "table"],
    registry=REGISTRY,
)
ROWS_QUARANTINED = Counter(
    "dwh_rows_quarantined",
    "Source rows set aside in ods.quarantine, by source table.",
    ["table"],
    registry=REGISTRY,
)
RUNS = Counter(
    "dwh_runs", "Finished runs, by job and status.", ["job", "status"], registry=REGISTRY
)
RUN_DURATION = Gauge(
    "dwh_run_duration_seconds", "Duration of the job's last run.", ["job"], registry=REGISTRY
)
RUN_ROWS = Gauge(
    "dwh_run_rows", "Rows the job's last run loaded into the DDS.", ["job"], registry=REGISTRY
)
RUN_SUCCEEDED = Gauge(
    "dwh_run_succeeded", "1 if the job's last run succeeded, else 0.", ["job"], registry=REGISTRY
)
RUN_LAST_SUCCESS = Gauge(
    "dwh_run_last_success_timestamp_seconds",
    "When the job last finished successfully (Unix time).",
    ["job"],
    registry=REGISTRY,
)
REPLICA_LAG = Gauge(
    "dwh_replica_lag_seconds",
    "How far the replica's replay was behind its primary when a run started.",
    registry=REGISTRY,
)
MART_LAST_REFRESH = Gauge(
    "dwh_mart_last_refresh_timestamp_seconds",
    "When the mart was last recomputed from the DDS (Unix time); age = time() - this.",
    ["mart"],
    registry=REGISTRY,
)
MART_FRESHNESS = Gauge(
    "dwh_mart_freshness_seconds",
    "Age of the mart's data (seconds since its last recomputation) when a run ended.",
    ["mart"],
    registry=REGISTRY,
)
EVENTS_CONSUMED = Counter(
    "dwh_events_consumed",
    "Kafka records consumed and committed, by topic and event type.",
    ["topic", "event_type"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "dwh_consumer_lag_messages",
    "Records behind the partition's high watermark after the last poll.",
    ["topic", "partition"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "dwh_dead_letters",
    "Undecodable Kafka records written to ods.events_dead_letter, by topic.",
    ["topic"],
    registry=REGISTRY,
)

#: The DDS table each run is recorded in, and the mart that serves it.
RUNS_TABLE = "dds.fact_warehouse_runs"


# --- counting (any process) -------------------------------------------------------------------


def record_extracted(table: str, rows: int) -> None:
    """Count ``rows`` read from the replica's ``table``."""
    ROWS_EXTRACTED.labels(table=table).inc(rows)


def record_loaded(layer: str, table: str, rows: int) -> None:
    """Count ``rows`` written to ``layer`` (``ods`` or ``dds``) ``table``."""
    ROWS_LOADED.labels(layer=layer, table=table).inc(rows)


def record_quarantined(quarantined: pl.DataFrame) -> None:
    """Count quarantined rows per source table (a frame of ``ods.quarantine`` rows)."""
    if quarantined.height == 0:
        return
    per_table = quarantined.group_by("table_name").len()
    for table, rows in per_table.iter_rows():
        ROWS_QUARANTINED.labels(table=str(table)).inc(int(rows))


def record_events_consumed(topic: str, event_type: str, count: int = 1) -> None:
    """Count Kafka records consumed (call after their offsets are committed)."""
    EVENTS_CONSUMED.labels(topic=topic, event_type=event_type).inc(count)


def record_dead_letters(topic: str, count: int = 1) -> None:
    """Count records of ``topic`` sent to ``ods.events_dead_letter``."""
    DEAD_LETTERS.labels(topic=topic).inc(count)


def set_consumer_lag(topic: str, partition: int, lag: int) -> None:
    """Set the consumer's lag (records behind the high watermark) on one partition."""
    CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(lag)


# --- serving (long-running processes) --------------------------------------------------------


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it."""

    server: WSGIServer
    address: str
    port: int

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(port: int, address: str = "127.0.0.1") -> MetricsServer:
    """Serve :data:`REGISTRY` at ``http://address:port/metrics`` from a background thread.

    ``port`` 0 picks a free port (see :attr:`MetricsServer.port`). Settings:
    ``DWH_METRICS_PORT`` / ``DWH_METRICS_ADDRESS``.
    """
    from dwh.errors import ConfigError

    try:
        server, _thread = start_http_server(port, addr=address, registry=REGISTRY)
    except OSError as exc:
        raise ConfigError(
            "DWH_METRICS_PORT", f"cannot serve metrics on {address}:{port} ({exc.strerror})"
        ) from None
    return MetricsServer(server=server, address=address, port=int(server.server_port))


# --- batch runs ---------------------------------------------------------------------------


@dataclass
class Run:
    """One run of a warehouse job, as recorded in ``marts.warehouse_runs``.

    The job's code sets :attr:`rows` (rows loaded into the DDS) and :attr:`quarantined`;
    :func:`track_run` fills in the rest.
    """

    job: str
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    status: str = "running"
    rows: int = 0
    quarantined: int = 0
    replica_lag_seconds: float | None = None
    message: str | None = None

    @property
    def seconds(self) -> float:
        """Duration of the run (so far, while it runs)."""
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()


@contextmanager
def track_run(
    job: str,
    settings: Settings,
    *,
    clickhouse_dsn: str | None = None,
    replica_dsn: str | None = None,
) -> Iterator[Run]:
    """Time the body as one run of ``job`` and record its outcome when it ends.

    ``clickhouse_dsn`` (default: the configured warehouse) receives the run row;
    ``replica_dsn``, when given, is asked for its replication lag first. An exception in the
    body marks the run ``failed`` with the exception's first line and propagates unchanged.
    """
    run = Run(job=job)
    if replica_dsn:
        run.replica_lag_seconds = measure_replica_lag(replica_dsn)
        if run.replica_lag_seconds is not None:
            REPLICA_LAG.set(run.replica_lag_seconds)
    started = time.perf_counter()
    try:
        yield run
    except Exception as exc:
        run.status = "failed"
        run.message = _first_line(exc)
        raise
    else:
        run.status = "succeeded"
    finally:
        if run.status != "running":  # not an interrupt: those are not worth a write
            run.finished_at = run.started_at + _elapsed(started)
            finish_run(run, settings, clickhouse_dsn or settings.effective_clickhouse_dsn)


def _elapsed(started: float) -> timedelta:
    return timedelta(seconds=time.perf_counter() - started)


def finish_run(run: Run, settings: Settings, clickhouse_dsn: str) -> None:
    """Record a finished run: Prometheus metrics, the warehouse's run table, the Pushgateway."""
    RUNS.labels(job=run.job, status=run.status).inc()
    RUN_DURATION.labels(job=run.job).set(run.seconds)
    RUN_ROWS.labels(job=run.job).set(run.rows)
    RUN_SUCCEEDED.labels(job=run.job).set(1 if run.status == "succeeded" else 0)
    if run.status == "succeeded" and run.finished_at is not None:
        RUN_LAST_SUCCESS.labels(job=run.job).set(run.finished_at.timestamp())
    try:
        _record_in_warehouse(run, clickhouse_dsn)
    except Exception as exc:
        log.warning(
            "run %s of %s not recorded in marts.warehouse_runs: %s",
            run.run_id,
            run.job,
            _first_line(exc),
        )
    if settings.pushgateway_url:
        push_run_metrics(settings.pushgateway_url, run.job)


def push_run_metrics(url: str, job: str) -> bool:
    """Push :data:`REGISTRY` to the Pushgateway at ``url`` as group ``job``; False on failure.

    Credentials in the URL (``http://user:pass@host:9091``) are sent as basic auth.
    """
    parts = urlsplit(url)
    handler: Callable[..., Callable[[], None]] = default_handler
    if parts.username is not None:
        user, password = parts.username, parts.password or ""
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))

        def with_credentials(
            url: str,
            method: str,
            timeout: float | None,
            headers: list[tuple[str, str]],
            data: bytes,
        ) -> Callable[[], None]:
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

        handler = with_credentials

    try:
        push_to_gateway(url, job=job, registry=_JobView(job), timeout=10, handler=handler)
    except Exception as exc:
        log.warning("could not push %s metrics to DWH_PUSHGATEWAY_URL: %s", job, _first_line(exc))
        return False
    return True


class _JobView(Collector):
    """:data:`REGISTRY` as one job's push sees it: samples labelled with another job are left
    out. The Pushgateway rejects a group (``job=<job>``) holding samples of another job, and a
    process that ran several jobs (a Prefect worker) would otherwise re-push their figures."""

    def __init__(self, job: str) -> None:
        self.job = job

    def collect(self) -> Iterable[Metric]:
        for family in REGISTRY.collect():
            kept = [s for s in family.samples if s.labels.get("job", self.job) == self.job]
            if kept:
                family.samples = kept
                yield family


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return mask_secrets(text.splitlines()[0] if text else type(exc).__name__)


def _record_in_warehouse(run: Run, clickhouse_dsn: str) -> None:
    from dwh.dds._rebuild import new_version, rebuild
    from dwh.engines.clickhouse import open_client
    from dwh.marts import warehouse_runs

    row = pl.DataFrame(
        {
            "run_id": [run.run_id],
            "job": [run.job],
            "started_at": [run.started_at],
            "finished_at": [run.finished_at],
            "status": [run.status],
            "rows": [run.rows],
            "quarantined": [run.quarantined],
            "replica_lag_seconds": [run.replica_lag_seconds],
            "message": [run.message],
            "_version": [new_version()],
        },
        schema={
            "run_id": pl.String,
            "job": pl.String,
            "started_at": pl.Datetime("us", "UTC"),
            "finished_at": pl.Datetime("us", "UTC"),
            "status": pl.String,
            "rows": pl.UInt64,
            "quarantined": pl.UInt64,
            "replica_lag_seconds": pl.Float64,
            "message": pl.String,
            "_version": pl.UInt64,
        },
    )
    # A short lock wait: the run is over, and chDB may be held by another dwh process.
    client = open_client(clickhouse_dsn, lock_timeout=30)
    try:
        client.insert_arrow(RUNS_TABLE, row.to_arrow())
        mart = warehouse_runs.MART
        # Only the run's month can change; earlier partitions stay as they are.
        since = run.started_at.date()
        rebuild(client, mart.table, mart.select, time_column=mart.day_column, since=since)
        _update_freshness(client)
    finally:
        client.close()


def _update_freshness(client: Client) -> None:
    """Set the freshness gauges from each mart's newest ``_version`` (its refresh time)."""
    now = time.time()
    for mart, refreshed in mart_refresh_times(client).items():
        if refreshed is not None:
            MART_LAST_REFRESH.labels(mart=mart).set(refreshed)
            MART_FRESHNESS.labels(mart=mart).set(max(0.0, now - refreshed))


def mart_refresh_times(client: Client) -> dict[str, float | None]:
    """Unix time of each mart's last recomputation (``None`` for an empty mart)."""
    from dwh.marts import MARTS

    query = " UNION ALL ".join(
        f"SELECT '{mart.name}' AS mart, count() AS n, max(_version) AS version FROM {mart.table}"
        for mart in MARTS
    )
    rows = client.query(query).result_rows
    return {str(name): (int(version) / 1e6 if n else None) for name, n, version in rows}


def measure_replica_lag(replica_dsn: str) -> float | None:
    """Seconds the replica's replay is behind its primary; ``None`` if it is not a standby.

    A standby that has replayed everything it received is 0 behind, however long ago the
    primary last wrote (``now() - pg_last_xact_replay_timestamp()`` alone would grow while the
    primary is idle). Unreachable replicas give ``None``: the run itself reports that error.
    """
    from dwh.engines.postgres import connect

    query = """
        SELECT CASE
            WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
        END
    """
    try:
        with connect(replica_dsn, "DWH_REPLICA_DSN") as conn:
            row = conn.execute(query).fetchone()
    except Exception as exc:
        log.debug("replica lag not measured: %s", _first_line(exc))
        return None
    return None if row is None or row[0] is None else float(row[0])


# --- the ETL hook -----------------------------------------------------------------------------


class _Counted(Protocol):
    @property
    def inserted(self) -> int: ...

    @property
    def updated(self) -> int: ...


class EtlOutcome(Protocol):
    """What :func:`observed_etl` reads from a run's report (``dwh.etl.EtlReport``)."""

    @property
    def extracted(self) -> Mapping[str, int]: ...

    @property
    def ods(self) -> Mapping[str, _Counted]: ...

    @property
    def dds(self) -> Mapping[str, int]: ...

    @property
    def quarantined(self) -> int: ...


P = ParamSpec("P")
R = TypeVar("R", bound=EtlOutcome)


def observed_etl(job: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an ETL entry point ``f(settings, dsns, ...)`` so each call is a tracked run.

    The run counts the report's rows per table (extracted, ODS, DDS) and is recorded as
    described in :func:`track_run`, with the replica's lag measured before it starts.
    """
    from dwh.engines.embedded import Dsns

    def decorate(run_job: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(run_job)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            given = [*args, *kwargs.values()]
            settings = next((a for a in given if isinstance(a, Settings)), None)
            dsns = next((a for a in given if isinstance(a, Dsns)), None)
            if settings is None or dsns is None:
                raise TypeError(f"{run_job.__name__} must be called with Settings and Dsns")
            with track_run(
                job, settings, clickhouse_dsn=dsns.clickhouse, replica_dsn=dsns.replica
            ) as run:
                report = run_job(*args, **kwargs)
                for table, rows in report.extracted.items():
                    record_extracted(table, rows)
                for table, counts in report.ods.items():
                    record_loaded("ods", table, counts.inserted + counts.updated)
                for table, rows in report.dds.items():
                    record_loaded("dds", table, rows)
                run.rows = sum(report.dds.values())
                run.quarantined = report.quarantined
            return report

        return wrapper

    return decorate
