"""The Operational dashboard: orders and their statuses, execution times, SLA and deviations."""

from __future__ import annotations

from dwh.dashboards._model import Chart, Dashboard, Panel, Unit

_STAGE_ORDER = (
    "['start_pipeline', 'estimate_cost', 'assign_performer', 'perform_delivery', "
    "'release_performer']"
)

DASHBOARD = Dashboard(
    uid="dwh-operational",
    title="Operational",
    description="Orders and their statuses, execution times, SLA and deviations.",
    panels=(
        Panel(
            key="orders_in_range",
            title="Orders registered",
            description="Orders registered in the time range.",
            sql="SELECT count() AS orders FROM dds.fact_orders FINAL"
            " WHERE $__timeFilter(registered_at)",
            chart=Chart.stat,
            unit=Unit.number,
            y=("orders",),
            width=6,
        ),
        Panel(
            key="open_attempts",
            title="Attempts in progress",
            description="Delivery attempts pending or in progress now (any registration date).",
            sql="SELECT countIf(status IN ('pending', 'in_progress')) AS open_attempts"
            " FROM dds.fact_deliveries FINAL",
            chart=Chart.stat,
            unit=Unit.number,
            y=("open_attempts",),
            width=6,
        ),
        Panel(
            key="delivered_share",
            title="Orders delivered",
            description="Share of the orders registered in the range that were delivered.",
            sql="SELECT if(count() = 0, NULL, countIf(is_delivered) / count()) AS delivered_share"
            " FROM dds.fact_orders FINAL WHERE $__timeFilter(registered_at)",
            chart=Chart.stat,
            unit=Unit.ratio,
            y=("delivered_share",),
            width=6,
        ),
        Panel(
            key="within_sla",
            title="Deliveries within SLA",
            description="Share of the deliveries released in the range within the SLA target "
            "(DWH_SLA_TARGET_SECONDS).",
            sql="SELECT if(sum(deliveries_count) = 0, NULL,"
            " sum(within_target_count) / sum(deliveries_count)) AS within_sla"
            " FROM marts.delivery_sla_daily WHERE $__timeFilter(day)",
            chart=Chart.stat,
            unit=Unit.ratio,
            y=("within_sla",),
            width=6,
        ),
        Panel(
            key="orders_per_hour",
            title="Orders per hour",
            sql="SELECT hour, orders_count FROM dds.hourly_orders_mv"
            " WHERE $__timeFilter(hour) ORDER BY hour",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="hour",
            y=("orders_count",),
        ),
        Panel(
            key="orders_by_status",
            title="Orders by status of their last attempt",
            description="Orders registered in the range; 'no attempt' before the first pipeline.",
            sql="SELECT ifNull(last_status, 'no attempt') AS order_status, count() AS orders"
            " FROM dds.fact_orders FINAL WHERE $__timeFilter(registered_at)"
            " GROUP BY order_status ORDER BY orders DESC",
            chart=Chart.bar,
            unit=Unit.number,
            x="order_status",
            y=("orders",),
        ),
        Panel(
            key="attempts_by_status",
            title="Delivery attempts per day by status",
            sql="SELECT toDateTime64(toStartOfDay(created_at), 0, 'UTC') AS day, status,"
            " count() AS attempts"
            " FROM dds.fact_deliveries FINAL WHERE $__timeFilter(created_at)"
            " GROUP BY day, status ORDER BY day, status",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="day",
            series="status",
            y=("attempts",),
            bars=True,
            stacked=True,
        ),
        Panel(
            key="stage_durations",
            title="Stage execution time (p50, p90)",
            description="Latest occurrence of each stage of the attempts created in the range "
            "(log scale: stages take from milliseconds to hours).",
            sql="SELECT name AS stage,"
            " quantileExact(0.5)(assumeNotNull(duration_seconds)) AS p50_seconds,"
            " quantileExact(0.9)(assumeNotNull(duration_seconds)) AS p90_seconds"
            " FROM dds.fact_stages FINAL"
            " WHERE is_latest AND duration_seconds IS NOT NULL AND $__timeFilter(created_at)"
            f" GROUP BY name ORDER BY indexOf({_STAGE_ORDER}, stage)",
            chart=Chart.bar,
            unit=Unit.seconds,
            x="stage",
            y=("p50_seconds", "p90_seconds"),
            log_axis=True,
        ),
        Panel(
            key="delivery_percentiles",
            title="Delivery time (assigned → released)",
            description="Percentiles of the deliveries released each day.",
            sql="SELECT day, p50_delivery_seconds, p90_delivery_seconds, p99_delivery_seconds"
            " FROM marts.delivery_sla_daily WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.seconds,
            x="day",
            y=("p50_delivery_seconds", "p90_delivery_seconds", "p99_delivery_seconds"),
        ),
        Panel(
            key="sla_share_daily",
            title="Share within SLA per day",
            sql="SELECT day, share_within_target FROM marts.delivery_sla_daily"
            " WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.ratio,
            x="day",
            y=("share_within_target",),
        ),
        Panel(
            key="sla_deviation",
            title="Mean deviation over the SLA target",
            description="Mean of (delivery time - target) over the deliveries that missed it.",
            sql="SELECT day, mean_over_target_seconds FROM marts.delivery_sla_daily"
            " WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.seconds,
            x="day",
            y=("mean_over_target_seconds",),
        ),
        Panel(
            key="over_target_daily",
            title="Deliveries over the SLA target per day",
            sql="SELECT day, over_target_count, within_target_count FROM marts.delivery_sla_daily"
            " WHERE $__timeFilter(day) ORDER BY day",
            chart=Chart.timeseries,
            unit=Unit.number,
            x="day",
            y=("over_target_count", "within_target_count"),
            bars=True,
            stacked=True,
        ),
    ),
)
