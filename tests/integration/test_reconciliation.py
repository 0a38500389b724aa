"""Reconciliation oracle: every hourly table and mart equals SQL computed on the source itself.

The source here has no deletes (deleted rows are history the source no longer has), and its
data is all valid, so the ODS equals the source and each figure can be recomputed from the five
source tables with plain PostgreSQL, independently of the warehouse's own code.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from dwh.config import Settings
from dwh.engines.clickhouse import query_frame
from dwh.engines.embedded import Dsns
from dwh.etl import clickhouse_session, migrate, run_etl

SLA_TARGET = 1800

# The facts, recomputed on the source: one row per pipeline with its delivery and order.
FACTS = """
WITH facts AS (
    SELECT p.id AS pipeline_id, p.order_id, p.status, p.created_at,
           p.started_at, d.estimated_at, d.assigned_at, d.released_at, d.performer_id,
           round(d.cost::numeric, 2) AS cost,
           d.released_at IS NOT NULL AS is_completed,
           CASE WHEN d.released_at >= d.assigned_at
                THEN extract(epoch FROM d.released_at - d.assigned_at)::float8 END
               AS delivery_seconds,
           CASE WHEN d.cost IS NULL THEN 'unpriced'
                WHEN round(d.cost::numeric, 2) <= 500 THEN 'small'
                WHEN round(d.cost::numeric, 2) <= 2000 THEN 'medium'
                WHEN round(d.cost::numeric, 2) <= 10000 THEN 'large'
                ELSE 'xlarge' END AS order_class
    FROM pipeline p LEFT JOIN delivery d ON d.pipeline_id = p.id
),
last_attempt AS (
    SELECT DISTINCT ON (order_id) order_id, status
    FROM pipeline ORDER BY order_id, created_at DESC, id DESC
),
latest_stage AS (
    SELECT DISTINCT ON (pipeline_id, name) name, status, message
    FROM stage ORDER BY pipeline_id, name, created_at DESC, id DESC
)
"""

ORACLE: dict[str, str] = {
    "dds.hourly_orders_mv": """
        SELECT date_trunc('hour', registered_at) AS hour, count(*) AS orders_count,
               count(DISTINCT source_address_id) AS unique_source_addresses,
               count(DISTINCT target_address_id) AS unique_target_addresses
        FROM "order" GROUP BY 1""",
    "dds.hourly_deliveries_mv": """
        SELECT date_trunc('hour', created_at) AS hour, performer_id,
               count(*) AS deliveries_count, count(cost) AS priced_count,
               coalesce(sum(cost), 0) AS total_cost, avg(cost) AS avg_cost,
               count(*) FILTER (WHERE is_completed) AS completed_count
        FROM facts GROUP BY 1, 2""",
    "marts.performer_efficiency": """
        SELECT performer_id, count(*) AS deliveries_count,
               count(*) FILTER (WHERE is_completed) AS completed_count,
               avg(cost) AS avg_cost, avg(delivery_seconds) AS avg_delivery_seconds,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY delivery_seconds)
                   AS p50_delivery_seconds,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY delivery_seconds)
                   AS p90_delivery_seconds
        FROM facts WHERE performer_id IS NOT NULL GROUP BY 1""",
    "marts.popular_routes": """
        SELECT source_address_id, target_address_id, count(*) AS orders_count,
               rank() OVER (ORDER BY count(*) DESC) AS route_rank,
               min(registered_at) AS first_registered_at,
               max(registered_at) AS last_registered_at
        FROM "order" GROUP BY 1, 2""",
    "marts.order_funnel_daily": """
        SELECT o.registered_at::date AS day, count(*) AS registered_count,
               count(*) FILTER (WHERE f.started) AS started_count,
               count(*) FILTER (WHERE f.estimated) AS estimated_count,
               count(*) FILTER (WHERE f.assigned) AS assigned_count,
               count(*) FILTER (WHERE f.delivered) AS delivered_count,
               count(*) FILTER (WHERE l.status = 'canceled') AS canceled_count,
               count(*) FILTER (WHERE l.status = 'failed') AS failed_count,
               (count(*) FILTER (WHERE f.delivered))::float8 / count(*) AS conversion
        FROM "order" o
        LEFT JOIN (
            SELECT order_id, bool_or(started_at IS NOT NULL) AS started,
                   bool_or(estimated_at IS NOT NULL) AS estimated,
                   bool_or(assigned_at IS NOT NULL) AS assigned,
                   bool_or(released_at IS NOT NULL) AS delivered
            FROM facts GROUP BY order_id
        ) f ON f.order_id = o.id
        LEFT JOIN last_attempt l ON l.order_id = o.id
        GROUP BY 1""",
    "marts.delivery_sla_daily": f"""
        SELECT released_at::date AS day, {SLA_TARGET} AS sla_target_seconds,
               count(*) AS deliveries_count,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY delivery_seconds)
                   AS p50_delivery_seconds,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY delivery_seconds)
                   AS p90_delivery_seconds,
               percentile_disc(0.99) WITHIN GROUP (ORDER BY delivery_seconds)
                   AS p99_delivery_seconds,
               count(*) FILTER (WHERE delivery_seconds <= {SLA_TARGET}) AS within_target_count,
               (count(*) FILTER (WHERE delivery_seconds <= {SLA_TARGET}))::float8 / count(*)
                   AS share_within_target,
               count(*) FILTER (WHERE delivery_seconds > {SLA_TARGET}) AS over_target_count,
               avg(delivery_seconds - {SLA_TARGET}) FILTER (WHERE delivery_seconds > {SLA_TARGET})
                   AS mean_over_target_seconds
        FROM facts WHERE delivery_seconds IS NOT NULL AND released_at IS NOT NULL
        GROUP BY 1""",
    "marts.revenue_daily": """
        SELECT created_at::date AS day, order_class, count(*) AS deliveries_count,
               count(cost) AS priced_count,
               count(*) FILTER (WHERE is_completed) AS completed_count,
               coalesce(sum(cost) FILTER (WHERE is_completed), 0) AS revenue,
               avg(cost) AS avg_cost
        FROM facts GROUP BY 1, 2""",
    # Continues the WITH list of FACTS.
    "marts.address_activity_daily": """
        , sightings AS (
            SELECT 'source' AS role, source_address_id AS address_id, registered_at::date AS day
            FROM "order"
            UNION ALL
            SELECT 'target', target_address_id, registered_at::date FROM "order"
        ), firsts AS (
            SELECT role, address_id, min(day) AS first_day FROM sightings GROUP BY 1, 2
        )
        SELECT s.day,
               count(DISTINCT s.address_id) FILTER (WHERE s.role = 'source')
                   AS active_source_addresses,
               count(DISTINCT s.address_id) FILTER (WHERE s.role = 'source' AND f.first_day < s.day)
                   AS repeat_source_addresses,
               count(DISTINCT s.address_id) FILTER (WHERE s.role = 'source' AND f.first_day = s.day)
                   AS new_source_addresses,
               count(DISTINCT s.address_id) FILTER (WHERE s.role = 'target')
                   AS active_target_addresses,
               count(DISTINCT s.address_id) FILTER (WHERE s.role = 'target' AND f.first_day < s.day)
                   AS repeat_target_addresses,
               count(DISTINCT s.address_id) FILTER (WHERE s.role = 'target' AND f.first_day = s.day)
                   AS new_target_addresses
        FROM sightings s JOIN firsts f USING (role, address_id)
        GROUP BY 1""",
    "marts.failure_reasons": """
        SELECT name AS stage_name, status, message, count(*) AS failures_count,
               count(*)::float8 / sum(count(*)) OVER () AS share
        FROM latest_stage WHERE status IN ('failed', 'canceled')
        GROUP BY 1, 2, 3""",
}


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Same representation on both sides: strings for ids, floats for numbers, naive UTC times."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Object or isinstance(dtype, pl.Decimal) or dtype.is_numeric():
            column = column.cast(pl.Float64)
        elif isinstance(dtype, pl.Datetime):
            column = column.dt.replace_time_zone(None).cast(pl.Datetime("us"))
        columns.append(column)
    out = frame.select(columns)
    return out.sort(out.columns, nulls_last=True)


def _from_source(dsn: str, query: str) -> pl.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute(FACTS + query)
        names = [d.name for d in cursor.description or ()]
        rows = [
            tuple(float(v) if isinstance(v, Decimal) else v for v in row)
            for row in cursor.fetchall()
        ]
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    return frame.with_columns(pl.col(pl.Object).map_elements(str, return_dtype=pl.String))


@pytest.mark.integration
def test_every_mart_equals_sql_on_the_source(simulated: Dsns, settings: Settings) -> None:
    settings = settings.model_copy(update={"sla_target_seconds": SLA_TARGET})
    migrate(simulated)
    run_etl(settings, simulated)

    with clickhouse_session(simulated) as client:
        for table, query in ORACLE.items():
            expected = _normalise(_from_source(simulated.source, query))
            actual = query_frame(client, f"SELECT * EXCEPT (_version) FROM {table}")
            actual = _normalise(actual.select(expected.columns))
            assert actual.height > 0, table
            assert_frame_equal(actual, expected, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-6)
