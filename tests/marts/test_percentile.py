"""The marts' percentiles equal PostgreSQL ``percentile_disc`` (the oracle) on any sample."""

from __future__ import annotations

import random

import psycopg
import pytest
from clickhouse_connect.driver.client import Client

from dwh.marts import percentile_disc
from marts.oracle import percentile_disc as python_percentile_disc

FRACTIONS = (0.0, 0.01, 0.1, 0.25, 0.29, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0)


def _samples() -> list[list[float]]:
    rng = random.Random(20250315)
    fixed = [
        [1.0],
        [1.0, 2.0],
        [3.0, 1.0, 2.0],
        [1.0, 2.0, 3.0, 4.0],
        [float(i) for i in range(1, 11)],
    ]
    fixed.append([float(i) for i in range(1, 101)])
    fixed.append([5.0, 5.0, 1.0, 5.0, 2.5, 2.5])  # ties
    drawn = [
        [round(rng.uniform(0, 20_000), 6) for _ in range(rng.randint(1, 60))] for _ in range(40)
    ]
    return fixed + drawn


def _clickhouse(client: Client, sample: list[float]) -> list[float | None]:
    columns = ", ".join(
        f"{percentile_disc('a', fraction)} AS p{i}" for i, fraction in enumerate(FRACTIONS)
    )
    sql = f"SELECT {columns} FROM (SELECT arraySort({{xs:Array(Float64)}}) AS a)"
    return list(client.query(sql, parameters={"xs": sample}).result_rows[0])


def test_percentile_disc_matches_postgresql(clickhouse: Client, pg_dsn: str) -> None:
    samples = _samples()
    with psycopg.connect(pg_dsn) as conn:
        for sample in samples:
            expected = conn.execute(
                "SELECT "
                + ", ".join(
                    f"percentile_disc({fraction}::float8) WITHIN GROUP (ORDER BY x)"
                    for fraction in FRACTIONS
                )
                + " FROM unnest(%s::float8[]) AS x",
                (sample,),
            ).fetchone()
            assert expected is not None
            assert _clickhouse(clickhouse, sample) == list(expected), sample
            assert [python_percentile_disc(sample, f) for f in FRACTIONS] == list(expected), sample


def test_builtin_quantiles_differ_from_percentile_disc(clickhouse: Client) -> None:
    """Why the marts do not use quantileExact*: on 1..10 they answer 10 for p90, not 9."""
    row = clickhouse.query(
        "SELECT quantileExact(0.9)(x), quantileExactLow(0.9)(x), quantileExactHigh(0.9)(x) "
        "FROM (SELECT toFloat64(number + 1) AS x FROM numbers(10))"
    ).result_rows[0]
    assert row == (10.0, 10.0, 10.0)
    assert python_percentile_disc([float(i) for i in range(1, 11)], 0.9) == 9.0


def test_empty_sample_is_null(clickhouse: Client) -> None:
    sql = f"SELECT {percentile_disc('a', 0.5)} FROM (SELECT CAST([], 'Array(Float64)') AS a)"
    assert clickhouse.query(sql).result_rows[0][0] is None


def test_fraction_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile_disc("a", 1.5)
