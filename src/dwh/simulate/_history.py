"""Generate a Sorting Hat source history as Polars frames, one per source table.

Grain follows the source: one row per config refresh, order, pipeline (delivery attempt),
stage row (re-delivered duplicates included) and delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from dwh.simulate._anomalies import inject_anomalies
from dwh.simulate._ids import F64, I64, random_uuids, uuid_strings
from dwh.simulate._lifecycle import (
    CANCELED,
    FAILED,
    IN_PROGRESS,
    MESSAGES,
    PENDING,
    STAGE_NAMES,
    STATUSES,
    Attempts,
    StageRows,
    lognormal,
    run_attempts,
)
from dwh.simulate._pools import (
    Addresses,
    Tariffs,
    address_pool,
    distance_m,
    performer_pool,
    popular_routes,
    tariffs,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = pl.Datetime("us", "UTC")
_MAX_ATTEMPTS = 5
_RESTART_P = {FAILED: 0.6, CANCELED: 0.3}
_REPEAT_ROUTE_P = 0.3  # share of orders placed on a regular customer's route
_EXTRA_P = 0.003
_EXTRAS = ('{"comment": "call on arrival"}', '{"fragile": true}', '{"floor": 7, "lift": false}')
# Relative order intensity by local hour (the platform's users live at UTC+3).
_LOCAL_OFFSET_HOURS = 3
_HOURLY = np.array(
    [
        0.30,
        0.20,
        0.15,
        0.12,
        0.12,
        0.15,
        0.30,
        0.55,
        0.80,
        0.90,
        0.95,
        1.00,
        1.00,
        0.95,
        0.90,
        0.90,
        0.95,
        1.00,
        1.00,
        0.95,
        0.85,
        0.70,
        0.55,
        0.40,
    ]
)

TABLES = ("config", "order", "pipeline", "stage", "delivery")


@dataclass(frozen=True)
class History:
    """A generated history: one frame per source table, columns named as in the source."""

    config: pl.DataFrame
    order: pl.DataFrame
    pipeline: pl.DataFrame
    stage: pl.DataFrame
    delivery: pl.DataFrame
    end: datetime

    def tables(self) -> dict[str, pl.DataFrame]:
        """Frames by table name, parents before children (the order to load them in)."""
        return {name: getattr(self, name) for name in TABLES}


def generate_history(
    orders: int,
    *,
    days: float = 30.0,
    seed: int = 0,
    end: datetime | None = None,
    anomalies: bool = False,
    config_every: timedelta = timedelta(hours=1),
) -> History:
    """Generate ``orders`` orders registered during the ``days`` before ``end`` (default: now).

    The same arguments give the same rows. With ``anomalies`` a small share of rows is made
    invalid on its own (see :func:`inject_anomalies`); otherwise every row is valid.
    """
    if orders < 0 or days <= 0 or config_every <= timedelta(0):
        raise ValueError("orders must be >= 0, days and config_every positive")
    end = datetime.now(UTC) if end is None else end
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    end_us = (end - _EPOCH) // timedelta(microseconds=1)
    end_epoch = end_us / 1e6
    rng = np.random.default_rng(seed)

    registered = _registration_offsets(rng, orders, days * 86_400.0, end_epoch)
    addresses = address_pool(orders)
    performers = performer_pool(orders)
    source, target = _routes(rng, orders, addresses)
    distance = distance_m(addresses, source, target)
    tariff = tariffs(end_epoch, -days * 86_400.0, config_every.total_seconds())

    consumer_lag = rng.uniform(60, 300)
    rows = StageRows()
    order_of: list[I64] = []
    created_of: list[F64] = []
    attempts: list[Attempts] = []
    order_idx = np.arange(orders)
    created = np.minimum(registered + lognormal(rng, 0.005, 1.0, orders, 1.0), 0.0)
    pipelines = 0
    for _ in range(_MAX_ATTEMPTS):
        if order_idx.size == 0:
            break
        res = run_attempts(
            rng, created, distance[order_idx], performers, tariff, rows, pipelines, consumer_lag
        )
        order_of.append(order_idx)
        created_of.append(created)
        attempts.append(res)
        pipelines += order_idx.size
        restart_p = np.select(
            [res.outcome == FAILED, res.outcome == CANCELED],
            [_RESTART_P[FAILED], _RESTART_P[CANCELED]],
            0.0,
        )
        restart_at = res.final_at + lognormal(rng, 90, 1.2, order_idx.size, 3_600)
        again = (rng.random(order_idx.size) < restart_p) & (restart_at <= 0)
        order_idx, created = order_idx[again], restart_at[again]

    order_ids = uuid_strings(random_uuids(rng, orders))
    pipeline_ids = uuid_strings(random_uuids(rng, pipelines))
    extra_code = np.where(rng.random(orders) < _EXTRA_P, rng.integers(0, len(_EXTRAS), orders), -1)
    order = pl.DataFrame(
        {
            "id": order_ids,
            "source_address_id": uuid_strings(addresses.ids[source]),
            "target_address_id": uuid_strings(addresses.ids[target]),
            "extra": _labels(extra_code, _EXTRAS),
            "registered_at": _timestamps(registered, end_us),
        }
    )
    pipeline, delivery = _pipeline_frames(
        attempts,
        np.concatenate([np.empty(0, np.int64), *order_of]),
        np.concatenate([np.empty(0), *created_of]),
        order_ids,
        pipeline_ids,
        uuid_strings(performers.ids),
        end_us,
    )
    stage = _stage_frame(rng, rows, pipeline_ids, end_us)
    history = History(_config_frame(tariff, end_us), order, pipeline, stage, delivery, end)
    return inject_anomalies(rng, history) if anomalies else history


def _registration_offsets(rng: np.random.Generator, n: int, span: float, end_epoch: float) -> F64:
    # Rejection sampling against the daily profile keeps this vectorised and seeded.
    kept: list[F64] = []
    have = 0
    while have < n:
        offsets = -span * rng.random(2 * (n - have) + 16)
        hour = np.floor((end_epoch + offsets) / 3_600 + _LOCAL_OFFSET_HOURS).astype(np.int64) % 24
        accepted = offsets[rng.random(offsets.size) < _HOURLY[hour]]
        kept.append(accepted)
        have += accepted.size
    return np.sort(np.concatenate(kept)[:n]) if n else np.empty(0)


def _routes(rng: np.random.Generator, n: int, addresses: Addresses) -> tuple[I64, I64]:
    size = len(addresses.ids)
    source = rng.choice(size, n, p=addresses.source_weights)
    target = rng.choice(size, n, p=addresses.target_weights)
    route_count = int(np.clip(n // 200, 10, 2_000))
    route_source, route_target = popular_routes(addresses, route_count)
    weights = 1.0 / np.arange(1, route_count + 1)
    route = rng.choice(route_count, n, p=weights / weights.sum())
    repeat = rng.random(n) < _REPEAT_ROUTE_P
    source = np.where(repeat, route_source[route], source)
    target = np.where(repeat, route_target[route], target)
    return source, np.where(source == target, (target + 1) % size, target)


def _pipeline_frames(
    attempts: list[Attempts],
    order_idx: I64,
    created: F64,
    order_ids: pl.Series,
    pipeline_ids: pl.Series,
    performer_ids: pl.Series,
    end_us: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name) for a in attempts]) if attempts else np.empty(0)

    started, finished = cat("started_at"), cat("finished_at")
    status = np.where(
        ~np.isnan(finished), cat("outcome"), np.where(~np.isnan(started), IN_PROGRESS, PENDING)
    )
    message = np.where(np.isnan(finished), -1, cat("message"))
    pipeline = pl.DataFrame(
        {
            "id": pipeline_ids,
            "order_id": order_ids.gather(order_idx),
            "status": _labels(status, STATUSES),
            "message": _labels(message, MESSAGES),
            "created_at": _timestamps(created, end_us),
            "started_at": _timestamps(started, end_us),
            "finished_at": _timestamps(finished, end_us),
        }
    )
    # start_pipeline inserts the delivery row together with setting started_at.
    has_delivery = ~np.isnan(started)
    performer = cat("performer")
    delivery = pl.DataFrame(
        {
            "pipeline_id": pipeline_ids,
            "cost": _floats(cat("cost")),
            "estimated_at": _timestamps(cat("estimated_at"), end_us),
            "performer_id": performer_ids.gather(_nullable_index(performer)),
            "assigned_at": _timestamps(cat("assigned_at"), end_us),
            "released_at": _timestamps(cat("released_at"), end_us),
        }
    ).filter(pl.Series(has_delivery))
    by_created = np.argsort(created, kind="stable")
    return pipeline[by_created], delivery


def _stage_frame(
    rng: np.random.Generator, rows: StageRows, pipeline_ids: pl.Series, end_us: int
) -> pl.DataFrame:
    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.empty(0, dtype)

    created = cat(rows.created, np.float64)
    exists = created <= 0
    created = created[exists]
    started = cat(rows.started, np.float64)[exists]
    finished = cat(rows.finished, np.float64)[exists]
    done = finished <= 0
    status = np.where(
        done, cat(rows.outcome, np.int64)[exists], np.where(started <= 0, IN_PROGRESS, PENDING)
    )
    by_created = np.argsort(created, kind="stable")
    frame = pl.DataFrame(
        {
            "id": uuid_strings(random_uuids(rng, int(exists.sum()))),
            "pipeline_id": pipeline_ids.gather(cat(rows.pipeline, np.int64)[exists]),
            "name": _labels(cat(rows.name, np.int64)[exists], STAGE_NAMES),
            "status": _labels(status, STATUSES),
            "message": _labels(np.where(done, cat(rows.message, np.int64)[exists], -1), MESSAGES),
            "created_at": _timestamps(created, end_us),
            "started_at": _timestamps(np.where(started <= 0, started, np.nan), end_us),
            "finished_at": _timestamps(np.where(done, finished, np.nan), end_us),
        }
    )
    return frame[by_created]


def _config_frame(tariff: Tariffs, end_us: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": uuid_strings(tariff.ids),
            "min_cost": tariff.min_cost,
            "rubles_per_meter": tariff.rubles_per_meter,
            "fetched_at": _timestamps(tariff.fetched_at, end_us),
        }
    )


def _timestamps(offsets: F64, end_us: int) -> pl.Series:
    """End-relative seconds to UTC microsecond timestamps; NaN and inf become NULL."""
    valid = np.isfinite(offsets)
    micros = end_us + np.round(np.where(valid, offsets, 0.0) * 1e6).astype(np.int64)
    return _with_nulls(pl.Series(micros, dtype=pl.Int64), ~valid).cast(_TS)


def _floats(values: F64) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64, nan_to_null=True)


def _nullable_index(codes: I64) -> pl.Series:
    return _with_nulls(pl.Series(codes, dtype=pl.Int64), codes < 0)


def _with_nulls(series: pl.Series, null: np.ndarray) -> pl.Series:
    return series.set(pl.Series(null, dtype=pl.Boolean), None) if null.any() else series


def _labels(codes: np.ndarray, lookup: tuple[str, ...]) -> pl.Series:
    """Codes to strings via one gather; negative codes become NULL."""
    return pl.Series(list(lookup), dtype=pl.String).gather(_nullable_index(codes))
