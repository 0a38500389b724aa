"""Pure parts of the metrics ingest: windows, alignment, the fact_metrics transform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwh.metrics import FactMetricsSchema, align, build_fact_metrics, plan_windows
from dwh.metrics._prometheus import MAX_POINTS_PER_SERIES, _samples

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@settings(deadline=None)
@given(
    start_offset=st.integers(0, 10**6),
    steps=st.integers(-3, 3000),
    step=st.integers(1, 3600),
    batch=st.integers(1, 10**7),
)
def test_windows_cover_every_step_once_within_bounds(
    start_offset: int, steps: int, step: int, batch: int
) -> None:
    start = align(EPOCH + timedelta(seconds=start_offset), step)
    end = start + timedelta(seconds=steps * step)

    windows = plan_windows(start, end, step_seconds=step, batch_seconds=batch)

    if end < start:
        assert windows == []
        return
    assert windows[0][0] == start
    assert windows[-1][1] == end
    limit = max(1, min(batch // step, MAX_POINTS_PER_SERIES))
    for (first, last), following in zip(windows, [*windows[1:], None], strict=True):
        points = (last - first) // timedelta(seconds=step) + 1
        assert 1 <= points <= limit
        if following is not None:
            assert following[0] == last + timedelta(seconds=step)


def test_align_rounds_down_to_the_step() -> None:
    moment = datetime(2026, 1, 1, 10, 7, 31, 900_000, tzinfo=UTC)
    assert align(moment, 15) == datetime(2026, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert align(moment, 1) == datetime(2026, 1, 1, 10, 7, 31, tzinfo=UTC)


def test_plan_windows_rejects_a_zero_step() -> None:
    with pytest.raises(ValueError, match="step_seconds"):
        plan_windows(EPOCH, EPOCH, step_seconds=0, batch_seconds=10)


def _raw() -> pl.DataFrame:
    return _samples(
        "rate(prober_create_orders_total[1m])",
        [
            {
                "metric": {"job": "prober", "__name__": "prober_up", "instance": "a:1"},
                "values": [[1767225600, "1"], [1767225615.5, "NaN"]],
            },
            {"metric": {"job": "prober"}, "values": [[1767225600, "+Inf"]]},
            {"metric": {}, "values": [[1767225600, "2.5"]]},
        ],
    )


def test_fact_metrics_names_labels_and_values() -> None:
    rows = build_fact_metrics(_raw().lazy()).collect()

    assert rows.get_column("metric").to_list() == [
        "prober_up",
        "prober_up",
        "rate(prober_create_orders_total[1m])",
        "rate(prober_create_orders_total[1m])",
    ]
    # __name__ is the metric, not a label; the rest are sorted by key (one key per series).
    assert rows.get_column("labels").to_list()[0] == [
        {"key": "instance", "value": "a:1"},
        {"key": "job", "value": "prober"},
    ]
    assert rows.get_column("labels").to_list()[3] == []
    assert rows.get_column("ts").to_list()[:2] == [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 15, 500_000, tzinfo=UTC),
    ]
    values = rows.get_column("value").to_list()
    assert values[0] == 1.0
    assert values[1] != values[1]  # NaN is kept: Prometheus says so
    assert values[2:] == [float("inf"), 2.5]
    FactMetricsSchema.validate(rows, cast=True)


def test_a_series_returned_twice_is_kept_once() -> None:
    twice = pl.concat([_raw(), _raw()])

    rows = build_fact_metrics(twice.lazy()).collect()

    assert rows.height == 4
    FactMetricsSchema.validate(rows, cast=True)


def test_label_order_does_not_make_a_new_series() -> None:
    one = _samples("x", [{"metric": {"a": "1", "b": "2"}, "values": [[1767225600, "1"]]}])
    other = _samples("x", [{"metric": {"b": "2", "a": "1"}, "values": [[1767225600, "2"]]}])

    rows = build_fact_metrics(pl.concat([one, other]).lazy()).collect()

    assert rows.height == 1
    assert rows.get_column("value").to_list() == [2.0]
