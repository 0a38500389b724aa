"""``simulate`` end to end on PostgreSQL: the state machine's invariants hold in SQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest

from dwh.simulate import SimulationSummary, simulate

from .conftest import END
from .invariants import PRESENCE, VIOLATIONS, count, violations

pytestmark = pytest.mark.integration

ORDERS = 3_000


@pytest.fixture(scope="module")
def source(module_dsn: str) -> tuple[str, SimulationSummary]:
    """One history of 3,000 orders over 10 days, shared by the read-only tests below."""
    return module_dsn, simulate(module_dsn, orders=ORDERS, days=10, seed=11, end=END)


def _table_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # type: ignore[index]
            for table in ("config", "order", "pipeline", "stage", "delivery")
        }


def test_summary_counts_what_was_written(source: tuple[str, SimulationSummary]) -> None:
    dsn, summary = source
    assert _table_counts(dsn) == {
        "config": summary.configs,
        "order": ORDERS,
        "pipeline": summary.pipelines,
        "stage": summary.stages,
        "delivery": summary.deliveries,
    }
    assert summary.orders == ORDERS
    assert summary.elapsed_seconds > 0
    assert summary.pipelines > ORDERS  # restarts
    assert summary.stages > 4 * summary.pipelines


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
def test_rule_holds(source: tuple[str, SimulationSummary], rule: str) -> None:
    dsn, _ = source
    assert count(dsn, VIOLATIONS[rule], END) == 0


@pytest.mark.parametrize("behaviour", sorted(PRESENCE))
def test_platform_behaviour_present(source: tuple[str, SimulationSummary], behaviour: str) -> None:
    dsn, _ = source
    assert count(dsn, PRESENCE[behaviour], END) > 0


def test_common_failure_of_perform_delivery(source: tuple[str, SimulationSummary]) -> None:
    dsn, _ = source
    with psycopg.connect(dsn) as conn:
        top = conn.execute("""
            SELECT message FROM stage WHERE name = 'perform_delivery' AND status = 'failed'
            GROUP BY message ORDER BY count(*) DESC LIMIT 1""").fetchone()
    assert top == ("There are physically no performers in the source zone",)


def test_extra_is_almost_always_null(source: tuple[str, SimulationSummary]) -> None:
    dsn, _ = source
    assert count(dsn, 'SELECT count(*) FROM "order" WHERE extra IS NOT NULL', END) < ORDERS / 50


def test_pending_pipelines_only_in_the_last_minutes(pg_dsn: str) -> None:
    simulate(pg_dsn, orders=300, days=0.05, seed=3, end=END)
    pending = "SELECT count(*) FROM pipeline WHERE status = 'pending'"
    assert count(pg_dsn, pending, END) > 0
    assert violations(pg_dsn, END) == {}


def test_another_seed_appends(pg_dsn: str) -> None:
    first = simulate(pg_dsn, orders=400, days=2, seed=1, end=END)
    second = simulate(pg_dsn, orders=300, days=2, seed=2, end=END - timedelta(hours=5))
    counts = _table_counts(pg_dsn)
    assert counts["order"] == 700
    assert counts["pipeline"] == first.pipelines + second.pipelines
    # The tariff is a function of time: the second run adds only the five hourly slots
    # before the first run's span, never a slot twice.
    assert second.configs == 5
    assert count(pg_dsn, "SELECT count(*) - count(DISTINCT fetched_at) FROM config", END) == 0
    assert violations(pg_dsn, END) == {}


def test_same_arguments_write_the_same_rows(pg_database_factory: Callable[[], str]) -> None:
    dsns = [pg_database_factory(), pg_database_factory()]
    for dsn in dsns:
        simulate(dsn, orders=500, days=3, seed=5, end=END)
    digests = []
    for dsn in dsns:
        with psycopg.connect(dsn) as conn:
            digests.append(
                [
                    conn.execute(
                        f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM \"{table}\" t"
                    ).fetchone()
                    for table in ("config", "order", "pipeline", "stage", "delivery")
                ]
            )
    assert digests[0] == digests[1]


def test_anomalies_only_on_request(pg_dsn: str) -> None:
    simulate(pg_dsn, orders=2_000, days=3, seed=8, end=END, anomalies=True)
    found = violations(pg_dsn, END)
    for rule in (
        "status outside the platform's five",
        "stage name outside the platform's five",
        "negative cost or release before assignment",
    ):
        assert found.get(rule, 0) > 0, rule
    assert count(pg_dsn, "SELECT count(*) FROM delivery WHERE cost < 0", END) > 0
    assert count(pg_dsn, "SELECT count(*) FROM delivery WHERE released_at < assigned_at", END) > 0
    assert count(pg_dsn, "SELECT count(*) FROM pipeline WHERE status = 'exploded'", END) > 0
