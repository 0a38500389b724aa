"""The Technical dashboard: API performance, Kafka throughput and lag, errors, run health."""

from __future__ import annotations

from dwh.dashboards._model import Chart, Dashboard, Panel, Unit
from dwh.dashboards._sql import MART_AGES, counter_increase

_QUARANTINED = (
    "SELECT toDateTime64(toStartOfDay(started_at), 0, 'UTC') AS time,"
    " 'quarantined rows' AS kind,"
    " toFloat64(sum(quarantined)) AS problems"
    " FROM marts.warehouse_runs WHERE $__timeFilter(started_at) GROUP BY time"
)
_DEAD_LETTERS = counter_increase(
    "dwh_dead_letters_total",
    label="topic",
    alias="topic",
    value="dead_letters",
    bucket="toStartOfDay",
)

DASHBOARD = Dashboard(
    uid="dwh-technical",
    title="Technical",
    description="API performance (prober), Kafka throughput and lag, errors and exceptions, "
    "warehouse run health and freshness.",
    panels=(
        Panel(
            key="failed_runs",
            title="Failed warehouse runs",
            description="Runs of any job that failed in the range (marts.warehouse_runs).",
            sql="SELECT countIf(status = 'failed') AS failed_runs FROM marts.warehouse_runs"
            " WHERE $__timeFilter(started_at)",
            chart=Chart.stat,
            unit=Unit.number,
            y=("failed_runs",),
            width=6,
        ),
        Panel(
            key="since_last_etl",
            title="Since the last successful ETL",
            sql="SELECT if(count() = 0, NULL,"
            " dateDiff('second', max(finished_at), now64(6, 'UTC'))) AS since_last_etl_seconds"
            " FROM marts.warehouse_runs WHERE job = 'etl' AND status = 'succeeded'",
            chart=Chart.stat,
            unit=Unit.seconds,
            y=("since_last_etl_seconds",),
            width=6,
        ),
        Panel(
            key="replica_lag",
            title="Replica lag",
            description="How far the replica was behind its primary when the last run started.",
            sql="SELECT argMax(replica_lag_seconds, started_at) AS last_replica_lag_seconds"
            " FROM marts.warehouse_runs WHERE replica_lag_seconds IS NOT NULL",
            chart=Chart.stat,
            unit=Unit.seconds,
            y=("last_replica_lag_seconds",),
            width=6,
        ),
        Panel(
            key="oldest_mart",
            title="Oldest mart",
            description="Seconds since the least recently refreshed mart was recomputed.",
            sql=f"SELECT max(age_seconds) AS oldest_mart_seconds FROM ({MART_AGES})",
            chart=Chart.stat,
            unit=Unit.seconds,
            y=("oldest_mart_seconds",),
            width=6,
        ),
        Panel(
            key="api_requests",
            title="API requests per second (prober)",
            sql="SELECT hour, operation, requests_per_second FROM marts.api_performance_hourly"
            " WHERE $__timeFilter(hour) ORDER BY hour, operation",
            chart=Chart.timeseries,
            unit=Unit.per_second,
            x="hour",
            series="operation",
            y=("requests_per_second",),
        ),
        Panel(
            key="api_error_rate",
            title="API error rate (prober)",
            sql="SELECT hour, operation, error_rate FROM marts.api_performance_hourly"
            " WHERE $__timeFilter(hour) ORDER BY hour, operation",
            chart=Chart.timeseries,
            unit=Unit.ratio,
            x="hour",
            series="operation",
            y=("error_rate",),
        ),
        Panel(
            key="api_latency",
            title="Create-order latency (p50, p95)",
            sql="SELECT hour, p50_duration_seconds, p95_duration_seconds"
            " FROM marts.api_performance_hourly"
            " WHERE operation = 'create_order' AND $__timeFilter(hour) ORDER BY hour",
            chart=Chart.timeseries,
            unit=Unit.seconds,
            x="hour",
            y=("p50_duration_seconds", "p95_duration_seconds"),
        ),
        Panel(
            key="api_failures",
            title="API failures per hour (prober)",
            sql="SELECT hour, operation, failure_count FROM marts.api_performance_hourly"
            " WHERE $__timeFilter(hour) ORDER BY hour, operation",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="hour",
            series="operation",
            y=("failure_count",),
            bars=True,
            stacked=True,
        ),
        Panel(
            key="kafka_events",
            title="Kafka events per hour (warehouse)",
            description="Records in dds.fact_events by hour of their timestamp.",
            sql="SELECT hour, event_type, events_count FROM dds.hourly_events_mv"
            " WHERE $__timeFilter(hour) ORDER BY hour, event_type",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="hour",
            series="event_type",
            y=("events_count",),
        ),
        Panel(
            key="consumed_events",
            title="Kafka records consumed per hour (consumer)",
            description="Increase of dwh_events_consumed_total, as Prometheus scraped it.",
            sql=counter_increase(
                "dwh_events_consumed_total",
                label="event_type",
                alias="event_type",
                value="consumed",
                bucket="toStartOfHour",
            ),
            chart=Chart.timeseries,
            unit=Unit.number,
            x="time",
            series="event_type",
            y=("consumed",),
        ),
        Panel(
            key="consumer_lag",
            title="Consumer lag",
            description="Records behind the high watermark, summed over partitions, per topic.",
            sql="SELECT toDateTime64(toStartOfMinute(ts), 0, 'UTC') AS minute, topic,"
            " max(lag) AS lag_messages"
            " FROM (SELECT ts, labels['topic'] AS topic, sum(value) AS lag"
            " FROM dds.fact_metrics FINAL"
            " WHERE metric = 'dwh_consumer_lag_messages' AND $__timeFilter(ts)"
            " GROUP BY ts, topic)"
            " GROUP BY minute, topic ORDER BY minute, topic",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="minute",
            series="topic",
            y=("lag_messages",),
        ),
        Panel(
            key="data_problems",
            title="Quarantined rows and dead letters per day",
            description="Rows the ETL set aside (ods.quarantine) and Kafka records it could not "
            "decode (ods.events_dead_letter).",
            sql=f"SELECT time, kind, problems FROM ({_QUARANTINED} UNION ALL"
            f" SELECT time, concat('dead letters: ', topic) AS kind, dead_letters AS problems"
            f" FROM ({_DEAD_LETTERS})) ORDER BY time, kind",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="time",
            series="kind",
            y=("problems",),
            bars=True,
            stacked=True,
        ),
        Panel(
            key="failure_reasons",
            title="Failed and canceled stages by reason",
            sql="SELECT stage_name, status, ifNull(message, '') AS reason, failures_count, share"
            " FROM marts.failure_reasons ORDER BY failures_count DESC, stage_name LIMIT 10",
            chart=Chart.table,
            unit=Unit.number,
            y=("stage_name", "status", "reason", "failures_count", "share"),
        ),
        Panel(
            key="recent_runs",
            title="Recent warehouse runs",
            sql="SELECT started_at, job, status, rows, quarantined, round(seconds, 1) AS seconds,"
            " ifNull(message, '') AS error FROM marts.warehouse_runs"
            " ORDER BY started_at DESC LIMIT 15",
            chart=Chart.table,
            unit=Unit.number,
            y=("started_at", "job", "status", "rows", "quarantined", "seconds", "error"),
        ),
        Panel(
            key="run_durations",
            title="Run duration by job",
            sql="SELECT started_at, job, seconds FROM marts.warehouse_runs"
            " WHERE $__timeFilter(started_at) ORDER BY started_at, job",
            chart=Chart.timeseries,
            unit=Unit.seconds,
            x="started_at",
            series="job",
            y=("seconds",),
        ),
        Panel(
            key="mart_freshness",
            title="Mart freshness",
            description="Seconds since each mart was last recomputed from the DDS.",
            sql=MART_AGES,
            chart=Chart.bar,
            unit=Unit.seconds,
            x="mart",
            y=("age_seconds",),
        ),
        Panel(
            key="process_memory",
            title="Resident memory by scrape job",
            sql="SELECT toDateTime64(toStartOfMinute(ts), 0, 'UTC') AS minute,"
            " labels['job'] AS scrape_job,"
            " max(value) AS resident_bytes FROM dds.fact_metrics FINAL"
            " WHERE metric = 'process_resident_memory_bytes' AND $__timeFilter(ts)"
            " GROUP BY minute, scrape_job ORDER BY minute, scrape_job",
            chart=Chart.timeseries,
            unit=Unit.bytes,
            x="minute",
            series="scrape_job",
            y=("resident_bytes",),
        ),
    ),
)
