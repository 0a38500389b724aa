"""``dwh demo``: a simulated source, one ETL run and the key marts, all on embedded engines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dwh.config import get_settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import start_embedded, wait_for_replica
from dwh.engines.postgres import connect
from dwh.etl import Progress, clickhouse_session, migrate, run_etl
from dwh.events import demo_events
from dwh.simulate import create_source_schema, simulate

SUMMARIES: dict[str, str] = {
    "Warehouse contents": (
        "SELECT (SELECT count() FROM dds.fact_orders) AS orders,"
        " (SELECT count() FROM dds.fact_deliveries) AS deliveries,"
        " (SELECT countIf(is_completed) FROM dds.fact_deliveries) AS completed,"
        " (SELECT count() FROM dds.fact_stages) AS stage_rows,"
        " (SELECT count() FROM dds.dim_performers) AS performers,"
        " (SELECT count() FROM dds.dim_configs) AS tariffs"
    ),
    "Order funnel, last 7 days": (
        "SELECT day, registered_count AS registered, started_count AS started,"
        " estimated_count AS estimated, assigned_count AS assigned,"
        " delivered_count AS delivered, canceled_count AS canceled, failed_count AS failed,"
        " round(conversion, 3) AS conversion"
        " FROM marts.order_funnel_daily ORDER BY day DESC LIMIT 7"
    ),
    "Delivery time and SLA, last 7 days": (
        "SELECT day, deliveries_count AS delivered, round(p50_delivery_seconds) AS p50_s,"
        " round(p90_delivery_seconds) AS p90_s, round(p99_delivery_seconds) AS p99_s,"
        " round(share_within_target, 3) AS within_sla,"
        " round(mean_over_target_seconds) AS mean_over_s"
        " FROM marts.delivery_sla_daily ORDER BY day DESC LIMIT 7"
    ),
    "Top performers by completed deliveries": (
        "SELECT performer_id, deliveries_count AS deliveries, completed_count AS completed,"
        " round(avg_cost, 2) AS avg_cost, round(p50_delivery_seconds) AS p50_s,"
        " round(p90_delivery_seconds) AS p90_s"
        " FROM marts.performer_efficiency ORDER BY completed_count DESC LIMIT 5"
    ),
    "Revenue by order class, last 3 days": (
        "SELECT day, order_class, deliveries_count AS deliveries,"
        " completed_count AS completed, revenue, round(avg_cost, 2) AS avg_cost"
        " FROM marts.revenue_daily WHERE day >= today() - 2 ORDER BY day DESC, order_class"
    ),
    "Failure reasons": (
        "SELECT stage_name, status, message, failures_count AS failures, round(share, 3) AS share"
        " FROM marts.failure_reasons ORDER BY failures_count DESC LIMIT 5"
    ),
    "Kafka events, latest 6 hours": (
        "SELECT hour, event_type, sum(events_count) AS events,"
        " sum(pipelines_count) AS pipelines, sum(unresolved_count) AS unresolved"
        " FROM marts.events_hourly WHERE hour >= (SELECT max(hour) FROM marts.events_hourly)"
        " - INTERVAL 5 HOUR GROUP BY hour, event_type ORDER BY hour DESC, event_type"
    ),
    "Stage latency, trigger to result, last 7 days": (
        "SELECT day, stage_name, results_count AS results, matched_count AS matched,"
        " succeeded_count AS succeeded, failed_count AS failed,"
        " round(p50_latency_seconds) AS p50_s, round(p90_latency_seconds) AS p90_s"
        " FROM marts.stage_latency ORDER BY day DESC, stage_name LIMIT 7"
    ),
}


def _source_orders(source_dsn: str) -> int:
    with connect(source_dsn, "DWH_SOURCE_DSN") as conn:
        row = conn.execute('SELECT count(*) FROM "order"').fetchone()
    return int(row[0]) if row else 0


def run_demo(*, orders: int, console: Console, progress: Progress) -> None:
    """Simulate ``orders`` orders if the source is empty, run the ETL, print the marts."""
    settings = get_settings()
    dsns = start_embedded(settings)
    create_source_schema(dsns.source)
    if _source_orders(dsns.source) == 0:
        with console.status(f"simulating {orders} orders"):
            summary = simulate(dsns.source, orders=orders)
        progress(f"simulated source: {summary}")
    wait_for_replica(dsns.source, dsns.replica)
    migrate(dsns)
    report = run_etl(settings, dsns, progress)
    progress(f"ETL run took {report.seconds:.1f} s")
    progress(demo_events(settings, dsns, progress=progress))
    with clickhouse_session(dsns) as client:
        for title, query in SUMMARIES.items():
            frame = query_frame(client, query)
            table = Table(*frame.columns, title=title)
            for row in frame.iter_rows():
                table.add_row(*(_cell(value) for value in row))
            console.print(table)
    from dwh.dashboards import write_report  # plotly is heavy; imported only when needed

    written = write_report(settings)
    for failed in written.failed:
        progress(f"report panel {failed.panel.title!r} failed: {failed.error}")
    console.print(f"report: {written.path} (open it in a browser; it works offline)")
    console.print(f'warehouse: {settings.home} (query it with: dwh sql "SELECT ...")')


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
