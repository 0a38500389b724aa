"""Deterministic statistics for the marts: the same data always gives the same bits.

Percentiles, with PostgreSQL ``percentile_disc`` semantics:

``percentile_disc(p) WITHIN GROUP (ORDER BY x)`` returns the first value of the sorted non-NULL
values whose cumulative position reaches ``p``: the value at 1-based position
``max(1, ceil(p * n))`` (PostgreSQL computes ``p * n`` in float8). None of ClickHouse's exact
quantiles matches it: on 1..10, ``quantileExact(0.9)`` and ``quantileExactHigh(0.9)`` give 10
and ``quantileExactLow(0.9)`` gives 10 where ``percentile_disc`` gives 9 (they take position
``floor(p * n) + 1``; ``quantileExactLow`` matches only for the median). So the value is
indexed directly in the sorted array, with the same float64 arithmetic as PostgreSQL.

Means of durations: a float sum depends on the order rows arrive in (threads, parts, versions
merged by ``FINAL``), so ``avg`` could change in the last bits between two refreshes of the
same data. Durations come from microsecond timestamps, so they are summed as integer
microseconds, which is exact and order-free.
"""

from __future__ import annotations


def sorted_values(expr: str) -> str:
    """SQL aggregate: the non-NULL values of ``expr`` sorted ascending (an Array)."""
    return f"arraySort(groupArray({expr}))"


def percentile_disc(sorted_array: str, fraction: float) -> str:
    """SQL expression: ``percentile_disc(fraction)`` of an already sorted array; NULL if empty."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    position = f"toUInt64(greatest(1, ceil({fraction!r} * length({sorted_array}))))"
    return f"if(empty({sorted_array}), NULL, {sorted_array}[{position}])"


def micros_of(seconds: str) -> str:
    """SQL expression: ``seconds`` as integer microseconds, the unit durations are summed in."""
    return f"toInt64(round({seconds} * 1000000))"


def mean_seconds(seconds: str, *, where: str | None = None, minus: str | None = None) -> str:
    """SQL aggregate: exact mean of ``seconds`` (minus the integer ``minus``) over the non-NULL
    rows meeting ``where``; NULL when there are none."""
    micros = micros_of(seconds)
    if minus is not None:
        micros = f"({micros} - toInt64({minus}) * 1000000)"
    picked = f"{seconds} IS NOT NULL" + (f" AND ({where})" if where else "")
    return (
        f"if(countIf({picked}) = 0, NULL, sumIf({micros}, {picked}) / countIf({picked}) / 1000000)"
    )
