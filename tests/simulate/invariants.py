"""SQL checks of the platform's state machine on a simulated source database.

``VIOLATIONS`` queries count rows that break a rule (expected 0 on valid data); ``PRESENCE``
queries count rows of a behaviour the platform is known for (expected > 0 on a large enough
history). Both take the history's end as ``%(end)s``.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

_STATUSES = "('pending', 'in_progress', 'succeeded', 'failed', 'canceled')"
_FINAL = "('succeeded', 'failed', 'canceled')"
_STAGES = (
    "('start_pipeline', 'estimate_cost', 'assign_performer', 'perform_delivery',"
    " 'release_performer')"
)
_ORDINAL = (
    "array_position(ARRAY['start_pipeline', 'estimate_cost', 'assign_performer',"
    " 'perform_delivery', 'release_performer']::text[], {}::text) - 1"
)
# The latest occurrence of each (pipeline, stage name): the one whose result counts.
_LATEST_STAGE = """
    SELECT DISTINCT ON (pipeline_id, name) *
    FROM stage ORDER BY pipeline_id, name, created_at DESC, id
"""
_CONFIG_IN_FORCE = """
    SELECT d.*, c.min_cost, c.rubles_per_meter
    FROM delivery d
    CROSS JOIN LATERAL (
        SELECT min_cost, rubles_per_meter FROM config
        WHERE fetched_at <= d.estimated_at ORDER BY fetched_at DESC LIMIT 1
    ) c
    WHERE d.cost IS NOT NULL
"""

VIOLATIONS: dict[str, str] = {
    "order without pipeline": """
        SELECT count(*) FROM "order" o
        WHERE NOT EXISTS (SELECT 1 FROM pipeline p WHERE p.order_id = o.id)""",
    "pipeline without order": """
        SELECT count(*) FROM pipeline p
        WHERE NOT EXISTS (SELECT 1 FROM "order" o WHERE o.id = p.order_id)""",
    "restart before the previous attempt ended badly": """
        SELECT count(*) FROM (
            SELECT created_at,
                   lag(status) OVER w AS prev_status, lag(finished_at) OVER w AS prev_finished
            FROM pipeline WINDOW w AS (PARTITION BY order_id ORDER BY created_at, id)
        ) a
        WHERE prev_status IS NOT NULL
          AND (prev_status NOT IN ('failed', 'canceled') OR prev_finished > created_at)""",
    "pipeline created before its order": """
        SELECT count(*) FROM pipeline p JOIN "order" o ON o.id = p.order_id
        WHERE p.created_at < o.registered_at""",
    "pipeline times out of order": """
        SELECT count(*) FROM pipeline
        WHERE started_at < created_at OR finished_at < started_at
           OR finished_at < created_at""",
    "pipeline status disagrees with its times": f"""
        SELECT count(*) FROM pipeline
        WHERE (status = 'pending' AND (started_at IS NOT NULL OR finished_at IS NOT NULL))
           OR (status = 'in_progress' AND (started_at IS NULL OR finished_at IS NOT NULL))
           OR (status IN {_FINAL} AND finished_at IS NULL)
           OR (status IN ('succeeded', 'failed') AND started_at IS NULL)
           OR ((message IS NOT NULL) <> (status IN ('failed', 'canceled')))""",
    "pending pipeline older than 15 minutes": """
        SELECT count(*) FROM pipeline
        WHERE status = 'pending' AND created_at < %(end)s - interval '15 minutes'""",
    "succeeded without release or all five stages": """
        SELECT count(*) FROM pipeline p
        LEFT JOIN delivery d ON d.pipeline_id = p.id
        LEFT JOIN (
            SELECT pipeline_id, count(DISTINCT name) AS names FROM stage GROUP BY pipeline_id
        ) s ON s.pipeline_id = p.id
        WHERE p.status = 'succeeded'
          AND (d.released_at IS NULL OR d.assigned_at IS NULL OR d.cost IS NULL
               OR s.names IS DISTINCT FROM 5)""",
    "ended pipeline disagrees with its deciding stage": f"""
        SELECT count(*) FROM pipeline p
        WHERE p.status IN ('failed', 'canceled')
          AND NOT EXISTS (
              SELECT 1 FROM ({_LATEST_STAGE}) s
              WHERE s.pipeline_id = p.id AND s.status = p.status
                AND s.message = p.message AND s.finished_at = p.finished_at)""",
    "latest stage of a succeeded pipeline not succeeded": f"""
        SELECT count(*) FROM ({_LATEST_STAGE}) s JOIN pipeline p ON p.id = s.pipeline_id
        WHERE p.status = 'succeeded' AND s.status <> 'succeeded'""",
    "stage after a stage that did not succeed": f"""
        SELECT count(*) FROM ({_LATEST_STAGE}) s
        JOIN ({_LATEST_STAGE}) nxt ON nxt.pipeline_id = s.pipeline_id
         AND {_ORDINAL.format("nxt.name")} = {_ORDINAL.format("s.name")} + 1
        WHERE s.status <> 'succeeded'""",
    "stages not a prefix of the sequence": f"""
        SELECT count(*) FROM (
            SELECT pipeline_id, count(DISTINCT name) AS names,
                   max({_ORDINAL.format("name")}) AS last
            FROM stage GROUP BY pipeline_id
        ) s WHERE names <> last + 1""",
    "stage before its pipeline or out of order": """
        SELECT count(*) FROM stage s JOIN pipeline p ON p.id = s.pipeline_id
        WHERE s.created_at < p.created_at OR s.started_at < s.created_at
           OR s.finished_at < s.started_at""",
    "stage status disagrees with its times": f"""
        SELECT count(*) FROM stage
        WHERE (status = 'pending' AND (started_at IS NOT NULL OR finished_at IS NOT NULL))
           OR (status = 'in_progress' AND (started_at IS NULL OR finished_at IS NOT NULL))
           OR (status IN {_FINAL} AND (finished_at IS NULL OR started_at IS NULL))
           OR ((message IS NOT NULL) <> (status IN ('failed', 'canceled')))""",
    "canceled outside the first two stages": """
        SELECT count(*) FROM stage
        WHERE status = 'canceled' AND name NOT IN ('start_pipeline', 'estimate_cost')""",
    "more than five rows per stage": """
        SELECT count(*) FROM (
            SELECT 1 FROM stage GROUP BY pipeline_id, name HAVING count(*) > 5
        ) s""",
    "delivery without a started pipeline (or the reverse)": """
        SELECT count(*) FROM pipeline p FULL JOIN delivery d ON d.pipeline_id = p.id
        WHERE (d.pipeline_id IS NULL) <> (p.started_at IS NULL)""",
    "delivery times out of order or half set": """
        SELECT count(*) FROM delivery
        WHERE (cost IS NULL) <> (estimated_at IS NULL)
           OR (performer_id IS NULL) <> (assigned_at IS NULL)
           OR assigned_at < estimated_at OR released_at < assigned_at
           OR (released_at IS NOT NULL AND assigned_at IS NULL)
           OR (assigned_at IS NOT NULL AND estimated_at IS NULL)""",
    "failed perform_delivery released its performer": """
        SELECT count(*) FROM pipeline p JOIN delivery d ON d.pipeline_id = p.id
        JOIN stage s ON s.pipeline_id = p.id AND s.name = 'perform_delivery'
        WHERE s.status = 'failed' AND (d.performer_id IS NULL OR d.released_at IS NOT NULL)""",
    "cost outside the formula's bounds for the config in force": f"""
        SELECT count(*) FROM ({_CONFIG_IN_FORCE}) d
        WHERE d.cost < d.min_cost
           OR d.cost > round(greatest(d.min_cost, 75000 * d.rubles_per_meter * 2.5)::numeric, 2)""",
    "estimate without a config in force": """
        SELECT count(*) FROM delivery d
        WHERE d.estimated_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM config c WHERE c.fetched_at <= d.estimated_at)""",
    "timestamp after the end": """
        SELECT (SELECT count(*) FROM "order" WHERE registered_at > %(end)s)
             + (SELECT count(*) FROM config WHERE fetched_at > %(end)s)
             + (SELECT count(*) FROM pipeline
                WHERE greatest(created_at, started_at, finished_at) > %(end)s)
             + (SELECT count(*) FROM stage
                WHERE greatest(created_at, started_at, finished_at) > %(end)s)
             + (SELECT count(*) FROM delivery
                WHERE greatest(estimated_at, assigned_at, released_at) > %(end)s)""",
    "status outside the platform's five": f"""
        SELECT (SELECT count(*) FROM pipeline WHERE status NOT IN {_STATUSES})
             + (SELECT count(*) FROM stage WHERE status NOT IN {_STATUSES})""",
    "stage name outside the platform's five": f"""
        SELECT count(*) FROM stage WHERE name NOT IN {_STAGES}""",
    "negative cost or release before assignment": """
        SELECT count(*) FROM delivery WHERE cost < 0 OR released_at < assigned_at""",
}

PRESENCE: dict[str, str] = {
    "succeeded pipelines": "SELECT count(*) FROM pipeline WHERE status = 'succeeded'",
    "failed pipelines": "SELECT count(*) FROM pipeline WHERE status = 'failed'",
    "canceled pipelines": "SELECT count(*) FROM pipeline WHERE status = 'canceled'",
    "restarted orders": """
        SELECT count(*) FROM (SELECT 1 FROM pipeline GROUP BY order_id HAVING count(*) > 1) o""",
    "stalled perform_delivery": """
        SELECT count(*) FROM pipeline p JOIN stage s ON s.pipeline_id = p.id
        WHERE p.status = 'in_progress' AND s.name = 'perform_delivery'
          AND s.status = 'in_progress' AND s.started_at < %(end)s - interval '1 day'""",
    "no-performers failures": """
        SELECT count(*) FROM stage
        WHERE name = 'perform_delivery' AND status = 'failed'
          AND message = 'There are physically no performers in the source zone'""",
    "no-idle-performers failures": """
        SELECT count(*) FROM stage
        WHERE name = 'assign_performer' AND status = 'failed'
          AND message LIKE 'no idle performers%%'""",
    "duplicate stage rows": """
        SELECT count(*) FROM (
            SELECT 1 FROM stage GROUP BY pipeline_id, name HAVING count(*) > 1
        ) s""",
    "perform_delivery with several rows": """
        SELECT count(*) FROM (
            SELECT 1 FROM stage WHERE name = 'perform_delivery'
            GROUP BY pipeline_id HAVING count(*) > 2
        ) s""",
    "repeated routes": """
        SELECT count(*) FROM (
            SELECT 1 FROM "order" GROUP BY source_address_id, target_address_id
            HAVING count(*) > 5
        ) r""",
    "busy performers": """
        SELECT count(*) FROM (
            SELECT 1 FROM delivery WHERE performer_id IS NOT NULL
            GROUP BY performer_id HAVING count(*) > 5
        ) p""",
    "orders in the last 24 hours": """
        SELECT count(*) FROM "order" WHERE registered_at > %(end)s - interval '24 hours'""",
    "config refreshes": "SELECT count(DISTINCT fetched_at) - 1 FROM config",
    "orders with extra": 'SELECT count(*) FROM "order" WHERE extra IS NOT NULL',
}


def count(dsn: str, query: str, end: datetime) -> int:
    """Run one counting query."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, {"end": end}).fetchone()
    assert row is not None
    return int(row[0])


def violations(dsn: str, end: datetime) -> dict[str, int]:
    """Every rule with a non-zero number of violating rows."""
    with psycopg.connect(dsn) as conn:
        found = {name: conn.execute(q, {"end": end}).fetchone() for name, q in VIOLATIONS.items()}
    return {name: int(row[0]) for name, row in found.items() if row is not None and row[0]}
