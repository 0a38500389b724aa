"""The Business dashboard: order dynamics, performer efficiency, revenue and cost."""

from __future__ import annotations

from dwh.dashboards._model import Chart, Dashboard, Panel, Unit

_FUNNEL_STEPS = ("registered", "started", "estimated", "assigned", "delivered")

DASHBOARD = Dashboard(
    uid="dwh-business",
    title="Business",
    description="Order dynamics, performer efficiency, revenue and cost.",
    panels=(
        Panel(
            key="revenue_total",
            title="Revenue",
            description="Cost of the completed deliveries created in the range.",
            sql="SELECT sum(revenue) AS revenue FROM marts.revenue_daily WHERE $__timeFilter(day)",
            chart=Chart.stat,
            unit=Unit.rubles,
            y=("revenue",),
            width=6,
        ),
        Panel(
            key="average_cost",
            title="Average delivery cost",
            description="Mean estimated cost of the attempts created in the range.",
            sql="SELECT toFloat64(avg(cost)) AS average_cost FROM dds.fact_deliveries FINAL"
            " WHERE cost IS NOT NULL AND $__timeFilter(created_at)",
            chart=Chart.stat,
            unit=Unit.rubles,
            y=("average_cost",),
            width=6,
        ),
        Panel(
            key="conversion_total",
            title="Conversion",
            description="Delivered / registered, orders registered in the range.",
            sql="SELECT if(sum(registered_count) = 0, NULL,"
            " sum(delivered_count) / sum(registered_count)) AS conversion"
            " FROM marts.order_funnel_daily WHERE $__timeFilter(day)",
            chart=Chart.stat,
            unit=Unit.ratio,
            y=("conversion",),
            width=6,
        ),
        Panel(
            key="active_performers",
            title="Active performers",
            description="Performers assigned to an attempt created in the range.",
            sql="SELECT uniqExact(performer_id) AS active_performers FROM dds.fact_deliveries FINAL"
            " WHERE performer_id IS NOT NULL AND $__timeFilter(created_at)",
            chart=Chart.stat,
            unit=Unit.number,
            y=("active_performers",),
            width=6,
        ),
        Panel(
            key="orders_daily",
            title="Orders per day by outcome",
            description="Orders registered each day and what became of them so far.",
            sql="SELECT day, registered_count, delivered_count, canceled_count, failed_count"
            " FROM marts.order_funnel_daily WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="day",
            y=("registered_count", "delivered_count", "canceled_count", "failed_count"),
        ),
        Panel(
            key="funnel",
            title="Order funnel",
            description="Orders registered in the range by the furthest step any attempt reached.",
            sql="SELECT step.1 AS funnel_step, step.2 AS orders FROM (SELECT arrayJoin(["
            + ", ".join(f"('{name}', sum({name}_count))" for name in _FUNNEL_STEPS)
            + "]) AS step FROM marts.order_funnel_daily WHERE $__timeFilter(day))",
            chart=Chart.bar,
            unit=Unit.number,
            x="funnel_step",
            y=("orders",),
        ),
        Panel(
            key="conversion_daily",
            title="Conversion per day",
            sql="SELECT day, conversion FROM marts.order_funnel_daily"
            " WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.ratio,
            x="day",
            y=("conversion",),
        ),
        Panel(
            key="revenue_daily",
            title="Revenue per day by order class",
            sql="SELECT day, order_class, toFloat64(revenue) AS revenue FROM marts.revenue_daily"
            " WHERE $__timeFilter(day) ORDER BY day, order_class",
            chart=Chart.timeseries,
            unit=Unit.rubles,
            x="day",
            series="order_class",
            y=("revenue",),
            bars=True,
            stacked=True,
        ),
        Panel(
            key="average_cost_daily",
            title="Average cost per day by order class",
            sql="SELECT day, order_class, avg_cost FROM marts.revenue_daily"
            " WHERE order_class != 'unpriced' AND $__timeFilter(day) ORDER BY day, order_class",
            chart=Chart.timeseries,
            unit=Unit.rubles,
            x="day",
            series="order_class",
            y=("avg_cost",),
        ),
        Panel(
            key="top_performers",
            title="Top performers by completed deliveries",
            description="All history; performer ids shortened to their first 8 characters.",
            sql="SELECT substring(toString(performer_id), 1, 8) AS performer, completed_count,"
            " deliveries_count FROM marts.performer_efficiency"
            " ORDER BY completed_count DESC, performer LIMIT 10",
            chart=Chart.bar,
            unit=Unit.number,
            x="performer",
            y=("completed_count", "deliveries_count"),
        ),
        Panel(
            key="performer_efficiency",
            title="Performer efficiency (top 10)",
            sql="SELECT substring(toString(performer_id), 1, 8) AS performer, deliveries_count,"
            " completed_count, round(avg_cost, 2) AS avg_cost,"
            " round(avg_delivery_seconds) AS avg_delivery_seconds,"
            " p50_delivery_seconds, p90_delivery_seconds FROM marts.performer_efficiency"
            " ORDER BY completed_count DESC, performer LIMIT 10",
            chart=Chart.table,
            unit=Unit.number,
            y=(
                "performer",
                "deliveries_count",
                "completed_count",
                "avg_cost",
                "avg_delivery_seconds",
                "p50_delivery_seconds",
                "p90_delivery_seconds",
            ),
            width=24,
        ),
        Panel(
            key="popular_routes",
            title="Popular routes",
            sql="SELECT route_rank, substring(toString(source_address_id), 1, 8) AS source,"
            " substring(toString(target_address_id), 1, 8) AS target, orders_count"
            " FROM marts.popular_routes ORDER BY route_rank, source, target LIMIT 10",
            chart=Chart.table,
            unit=Unit.number,
            y=("route_rank", "source", "target", "orders_count"),
        ),
        Panel(
            key="address_activity",
            title="New and repeat source addresses per day",
            description="The source has no customer id: addresses stand in for customers.",
            sql="SELECT day, new_source_addresses, repeat_source_addresses"
            " FROM marts.address_activity_daily WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="day",
            y=("new_source_addresses", "repeat_source_addresses"),
            bars=True,
            stacked=True,
        ),
    ),
)
