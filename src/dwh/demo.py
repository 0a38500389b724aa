"""``dwh demo``: a simulated source, one ETL run and the key marts, all on embedded engines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dwh.config import get_settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import start_embedded, wait_for_replica
from dwh.engines.postgres import connect
from dwh.etl import Progress, clickhouse_session, migrate, run_etl
from dwh.simulate import create_source_schema, simulate

SUMMARIES: dict[str, str] = {
    "Orders and deliveries": (
        "SELECT (SELECT count() FROM dds.fact_orders) AS orders,"
        " (SELECT count() FROM dds.fact_deliveries) AS deliveries,"
        " (SELECT countIf(is_completed) FROM dds.fact_deliveries) AS completed,"
        " (SELECT count() FROM dds.fact_stages) AS stage_rows"
    ),
    "Order funnel, last 7 days": (
        "SELECT * FROM marts.order_funnel_daily ORDER BY day DESC LIMIT 7"
    ),
    "Delivery SLA, last 7 days": (
        "SELECT * FROM marts.delivery_sla_daily ORDER BY day DESC LIMIT 7"
    ),
    "Top performers by completed deliveries": (
        "SELECT * FROM marts.performer_efficiency ORDER BY completed_count DESC LIMIT 5"
    ),
    "Revenue by order class, last 3 days": (
        "SELECT * FROM marts.revenue_daily ORDER BY day DESC, order_class LIMIT 12"
    ),
    "Failure reasons": "SELECT * FROM marts.failure_reasons ORDER BY failures_count DESC LIMIT 5",
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
    with clickhouse_session(dsns) as client:
        for title, query in SUMMARIES.items():
            frame = query_frame(client, query)
            table = Table(*frame.columns, title=title)
            for row in frame.iter_rows():
                table.add_row(*(_cell(value) for value in row))
            console.print(table)
    console.print(f'warehouse: {settings.home} (query it with: dwh sql "SELECT ...")')


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
