"""Hypothesis strategies for raw source frames: mostly valid rows, plus every anomaly the
cleanup must catch (nulls, malformed and uppercase uuids, unknown enums, time travel, bad costs,
duplicate keys, orphans)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import strategies as st

from dwh.ods._cleaning import STAGE_NAMES, STATUSES

TS = pl.Datetime("us", "UTC")
RAW_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "orders": {
        "id": pl.String(),
        "source_address_id": pl.String(),
        "target_address_id": pl.String(),
        "extra": pl.String(),
        "registered_at": TS,
    },
    "pipelines": {
        "id": pl.String(),
        "order_id": pl.String(),
        "status": pl.String(),
        "message": pl.String(),
        "created_at": TS,
        "started_at": TS,
        "finished_at": TS,
    },
    "stages": {
        "id": pl.String(),
        "pipeline_id": pl.String(),
        "name": pl.String(),
        "status": pl.String(),
        "message": pl.String(),
        "created_at": TS,
        "started_at": TS,
        "finished_at": TS,
    },
    "deliveries": {
        "pipeline_id": pl.String(),
        "cost": pl.Float64(),
        "estimated_at": TS,
        "performer_id": pl.String(),
        "assigned_at": TS,
        "released_at": TS,
    },
    "configs": {
        "id": pl.String(),
        "min_cost": pl.Float64(),
        "rubles_per_meter": pl.Float64(),
        "fetched_at": TS,
    },
}

uuid_strings = st.uuids().map(str)
timestamps = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
# Mostly forward in time (or equal), sometimes backwards: an invalid lifecycle.
steps = st.integers(0, 7).flatmap(
    lambda i: (
        st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(microseconds=-1))
        if i == 7
        else st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2))
    )
)
texts = st.one_of(st.none(), st.just(""), st.text(max_size=20))


def mostly(
    valid: st.SearchStrategy[Any], *anomalies: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``valid`` about 15 times in 16, otherwise one of ``anomalies`` (rows have many columns:
    rarer anomalies per column still leave about half the rows valid)."""
    # Not one_of([valid] * n, ...): Hypothesis de-duplicates the branches. Shrinks to valid.
    anomaly = st.one_of(*anomalies)
    return st.integers(0, 15).flatmap(lambda i: anomaly if i == 15 else valid)


def uuid_like(pool: list[str], *, nullable: bool = True) -> st.SearchStrategy[str | None]:
    """A uuid from ``pool`` (to force duplicates/known parents) or a fresh one; sometimes a
    spelling variant, a malformed string or null."""
    anomalies: list[st.SearchStrategy[str | None]] = [
        st.sampled_from(pool).map(str.upper),
        st.sampled_from(["not-a-uuid", "", "123"]),
    ]
    if nullable:
        anomalies.append(st.none())
    return mostly(st.one_of(st.sampled_from(pool), uuid_strings), *anomalies)


def enum_like(values: tuple[str, ...]) -> st.SearchStrategy[str | None]:
    """Mostly a valid value; sometimes unknown, miscased or null."""
    return mostly(st.sampled_from(values), st.sampled_from(["bogus", values[0].upper()]), st.none())


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, strategy, st.none())


def costs() -> st.SearchStrategy[float | None]:
    """Cent amounts as the source writes them; sometimes arbitrary, negative, huge or
    non-finite floats."""
    return mostly(
        st.one_of(
            st.integers(min_value=0, max_value=10**7).map(lambda cents: cents / 100),
            st.integers(min_value=0, max_value=10**12 - 1).map(lambda cents: cents / 100),
            st.floats(min_value=0, max_value=1e6),
            st.sampled_from([2.675, 0.125, 0.005, 1.005]),
        ),
        st.floats(min_value=-1e3, max_value=2e10),
        st.sampled_from([float("nan"), float("inf"), -0.001, 1e10]),
        st.none(),
    )


@st.composite
def lifecycle(draw: st.DrawFn) -> dict[str, datetime | None]:
    created = draw(mostly(timestamps, st.none()))
    started = None if created is None else draw(maybe(steps.map(lambda d: created + d)))
    finished = None if started is None else draw(maybe(steps.map(lambda d: started + d)))
    return {"created_at": created, "started_at": started, "finished_at": finished}


def frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a raw frame in the replica's column types."""
    return pl.DataFrame(rows, schema=RAW_SCHEMAS[table], orient="row")


@st.composite
def raw_orders(draw: st.DrawFn) -> pl.DataFrame:
    keys = draw(st.lists(uuid_strings, min_size=1, max_size=4, unique=True))
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": uuid_like(keys),
                    "source_address_id": uuid_like(keys),
                    "target_address_id": uuid_like(keys),
                    "extra": texts,
                    "registered_at": mostly(timestamps, st.none()),
                }
            ),
            max_size=25,
        )
    )
    return frame("orders", rows)


@st.composite
def raw_configs(draw: st.DrawFn) -> pl.DataFrame:
    keys = draw(st.lists(uuid_strings, min_size=1, max_size=4, unique=True))
    tariff = mostly(
        st.floats(min_value=0, max_value=1e6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.none(),
    )
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": uuid_like(keys),
                    "min_cost": tariff,
                    "rubles_per_meter": tariff,
                    "fetched_at": mostly(timestamps, st.none()),
                }
            ),
            max_size=25,
        )
    )
    return frame("configs", rows)


@st.composite
def raw_children(draw: st.DrawFn, table: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A raw ``pipelines``/``stages``/``deliveries`` frame and the known parent ids (a subset
    of the parents the rows point at, so some rows are orphans)."""
    parents = draw(st.lists(uuid_strings, min_size=1, max_size=5, unique=True))
    known = draw(st.lists(st.sampled_from(parents), unique=True))
    keys = draw(st.lists(uuid_strings, min_size=1, max_size=4, unique=True))
    if table == "deliveries":
        times = st.fixed_dictionaries({"assigned_at": maybe(timestamps)}).flatmap(
            lambda t: st.fixed_dictionaries(
                {
                    "assigned_at": st.just(t["assigned_at"]),
                    "released_at": st.none()
                    if t["assigned_at"] is None
                    else maybe(steps.map(lambda d: t["assigned_at"] + d)),
                }
            )
        )
        row = st.tuples(
            st.fixed_dictionaries(
                {
                    "pipeline_id": uuid_like(parents),
                    "cost": costs(),
                    "estimated_at": maybe(timestamps),
                    "performer_id": uuid_like(keys),
                }
            ),
            times,
        )
    else:
        parent = "order_id" if table == "pipelines" else "pipeline_id"
        fields: dict[str, st.SearchStrategy[Any]] = {
            "id": uuid_like(keys),
            parent: uuid_like(parents),
            "status": enum_like(STATUSES),
            "message": texts,
        }
        if table == "stages":
            fields["name"] = enum_like(STAGE_NAMES)
        row = st.tuples(st.fixed_dictionaries(fields), lifecycle())
    rows = [a | b for a, b in draw(st.lists(row, max_size=25))]
    return frame(table, rows), pl.DataFrame({"id": known}, schema={"id": pl.String})
