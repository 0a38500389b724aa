"""``marts.api_performance_hourly``: one row per (UTC hour, prober ``operation``).

Derived from the prober's Prometheus series in ``dds.fact_metrics`` (DESIGN §1): the
prober exercises the platform's API once per cycle, so its counters are the API's request,
success and failure counts as a client sees them, and its duration gauge is the latency of
the last ``create order`` call. ``operation`` is ``create_order`` or ``cancel_order``.

- ``requests_count`` / ``success_count`` / ``failure_count``: the increase of
  ``prober_<op>_orders_total`` / ``_success_total`` / ``_fail_total`` in the hour, summed over
  series (instances). The increase between two consecutive samples of a series is counted in
  the hour of the later one; a drop is a counter reset, after which the new value is the
  increase (as PromQL's ``increase``, without its extrapolation). The first sample of a series
  has no predecessor and adds nothing.
- ``error_rate``: ``failure_count / requests_count``; NULL in an hour without requests.
- ``requests_per_second``: per series, its increase over the seconds its samples span in the
  hour, summed over series; NULL when no two samples of a request counter fall in the hour.
- ``p50/p95_duration_seconds``: PostgreSQL ``percentile_disc`` of the duration gauge's
  samples in the hour (only ``create_order`` has one; NULL otherwise), ``duration_samples``
  how many there were.
"""

from __future__ import annotations

from dwh.marts._mart import Mart
from dwh.marts._stats import percentile_disc

#: The prober's series the mart reads.
PROBER_METRICS = (
    "prober_create_orders_total",
    "prober_create_orders_success_total",
    "prober_create_orders_fail_total",
    "prober_create_orders_duration_seconds",
    "prober_cancel_orders_total",
    "prober_cancel_orders_success_total",
    "prober_cancel_orders_fail_total",
)

_METRIC_LIST = ", ".join(f"'{name}'" for name in PROBER_METRICS)

MART = Mart(
    name="api_performance_hourly",
    day_column="hour",
    select=f"""
WITH
    samples AS
    (
        SELECT
            metric,
            labels,
            ts,
            value,
            lagInFrame(toNullable(value)) OVER series AS previous_value,
            lagInFrame(toNullable(ts)) OVER series AS previous_ts
        FROM dds.fact_metrics FINAL
        WHERE metric IN ({_METRIC_LIST}) AND NOT isNaN(value)
        WINDOW series AS (PARTITION BY metric, labels ORDER BY ts
                          ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    ),
    series_hours AS
    (
        SELECT
            toDateTime64(toStartOfHour(ts), 6, 'UTC') AS hour,
            if(startsWith(metric, 'prober_create_'), 'create_order', 'cancel_order') AS operation,
            multiIf(
                endsWith(metric, '_success_total'), 'success',
                endsWith(metric, '_fail_total'), 'failure',
                endsWith(metric, '_total'), 'request',
                'duration') AS kind,
            labels,
            sumIf(if(value >= previous_value, value - previous_value, value),
                  previous_value IS NOT NULL) AS increase,
            sumIf(dateDiff('microsecond', previous_ts, ts), previous_ts IS NOT NULL) / 1e6
                AS observed_seconds,
            groupArray(value) AS values
        FROM samples
        GROUP BY hour, operation, kind, labels
    )
SELECT
    hour,
    operation,
    toUInt64(round(sumIf(increase, kind = 'request'))) AS requests_count,
    toUInt64(round(sumIf(increase, kind = 'success'))) AS success_count,
    toUInt64(round(sumIf(increase, kind = 'failure'))) AS failure_count,
    if(requests_count = 0, NULL, failure_count / requests_count) AS error_rate,
    if(countIf(kind = 'request' AND observed_seconds > 0) = 0, NULL,
       sumIf(increase / observed_seconds, kind = 'request' AND observed_seconds > 0))
        AS requests_per_second,
    arraySort(arrayFlatten(groupArrayIf(values, kind = 'duration'))) AS durations,
    {percentile_disc("durations", 0.5)} AS p50_duration_seconds,
    {percentile_disc("durations", 0.95)} AS p95_duration_seconds,
    length(durations) AS duration_samples
FROM series_hours
GROUP BY hour, operation
""",
)
