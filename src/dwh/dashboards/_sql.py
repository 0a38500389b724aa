"""SQL that several panels share, generated so that it is written once."""

from __future__ import annotations


def counter_increase(metric: str, *, label: str, alias: str, value: str, bucket: str) -> str:
    """Rows ``(time, <alias>, <value>)``: the increase of a Prometheus counter per time bucket.

    ``bucket`` is a ClickHouse function of ``ts`` (``toStartOfHour``, ``toStartOfDay``),
    ``label`` the label whose values become ``alias``. As in ``marts.api_performance_hourly``,
    the increase between consecutive samples of a series counts in the later one's bucket and
    a drop is a counter reset. The first sample in range has no predecessor and adds nothing.
    """
    return f"""
SELECT toDateTime64({bucket}(ts), 0, 'UTC') AS time, {alias}, sum(increase) AS {value}
FROM
(
    SELECT
        ts,
        labels['{label}'] AS {alias},
        value - lagInFrame(toNullable(value)) OVER series AS delta,
        if(delta < 0, value, delta) AS increase
    FROM dds.fact_metrics FINAL
    WHERE metric = '{metric}' AND $__timeFilter(ts)
    WINDOW series AS (PARTITION BY labels ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
WHERE increase IS NOT NULL
GROUP BY time, {alias}
ORDER BY time, {alias}
"""


#: Rows ``(mart, age_seconds)``: seconds since each non-empty mart was last recomputed. A mart's
#: rows carry the ``_version`` (microseconds since the epoch) of the refresh that wrote them, so
#: its newest ``_version`` is its last refresh. ``merge()`` reads every table of ``marts`` but
#: the ``_rebuild_*`` staging copies, so a mart added later needs no change here.
MART_AGES = """
SELECT
    _table AS mart,
    dateDiff('second', fromUnixTimestamp64Micro(toInt64(max(_version)), 'UTC'), now64(6, 'UTC'))
        AS age_seconds
FROM merge('marts', '^[a-z]')
GROUP BY mart
ORDER BY age_seconds DESC, mart
"""
