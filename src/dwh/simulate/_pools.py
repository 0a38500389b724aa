"""Pools shared by every run: performers, addresses and the tariff (config) timeline.

Their ids and traits are hashed from an index, not drawn from the seed, so appending a
second history with another seed reuses the same performers and addresses (as the real
platform would) and writes the same tariff for the same minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dwh.simulate._ids import F64, I64, U8, hashed_uniform, hashed_uuids

_PERFORMER_SALT = 0x9E1F
_ADDRESS_SALT = 0xADD5
_CONFIG_SALT = 0xC0F1

# A square city; the road factor turns straight lines into street distances. The corner
# to corner distance times the factor stays under the platform's 75 km maximum.
_CITY_METERS = 40_000.0
_ROAD_FACTOR = 1.3
_MAX_DISTANCE_M = 75_000.0


@dataclass(frozen=True)
class Performers:
    """Performer pool: ids, popularity and per-performer behaviour."""

    ids: U8
    weights: F64
    speed: F64  # multiplies delivery durations: some performers are reliably slower
    failure: F64  # multiplies the perform_delivery failure probability


@dataclass(frozen=True)
class Addresses:
    """Address pool: ids, positions (metres) and popularity as pickup and drop-off point."""

    ids: U8
    x: F64
    y: F64
    source_weights: F64
    target_weights: F64


@dataclass(frozen=True)
class Tariffs:
    """Config rows: one per refresh period, ``fetched_at`` as seconds relative to the end."""

    ids: U8
    fetched_at: F64
    min_cost: F64
    rubles_per_meter: F64

    def in_force(self, at: F64) -> tuple[F64, F64]:
        """``(min_cost, rubles_per_meter)`` of the row with the latest ``fetched_at <= at``."""
        row = np.searchsorted(self.fetched_at, at, side="right") - 1
        row = np.clip(row, 0, len(self.fetched_at) - 1)
        return self.min_cost[row], self.rubles_per_meter[row]


def _zipf(n: int, exponent: float) -> F64:
    w: F64 = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    normalised: F64 = w / w.sum()
    return normalised


def _normal(keys: np.ndarray, salt: int) -> F64:
    # Box-Muller on two hashed uniforms keeps the trait a pure function of the index.
    u1 = hashed_uniform(keys, salt)
    u2 = hashed_uniform(keys, salt + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _lognormal(keys: np.ndarray, salt: int, sigma: float) -> F64:
    return np.exp(sigma * _normal(keys, salt))


def performer_pool(orders: int) -> Performers:
    """A few hundred to a few thousand performers, more for larger histories."""
    size = int(np.clip(round(20 * np.sqrt(orders)), 200, 3_000))
    keys = np.arange(size)
    return Performers(
        ids=hashed_uuids(keys, _PERFORMER_SALT),
        weights=_zipf(size, 0.7),
        speed=_lognormal(keys, _PERFORMER_SALT + 10, 0.35),
        failure=np.clip(_lognormal(keys, _PERFORMER_SALT + 20, 0.5), 0.2, 3.0),
    )


def address_pool(orders: int) -> Addresses:
    """Addresses clustered around a few districts; pickups are much more concentrated."""
    size = int(np.clip(orders // 2, 100, 500_000))
    keys = np.arange(size)
    district = (hashed_uniform(keys, _ADDRESS_SALT) * 12).astype(np.int64)
    centre_x = 4_000 + hashed_uniform(district, _ADDRESS_SALT + 1) * (_CITY_METERS - 8_000)
    centre_y = 4_000 + hashed_uniform(district, _ADDRESS_SALT + 2) * (_CITY_METERS - 8_000)
    spread = 3_000 * _normal(keys, _ADDRESS_SALT + 3)
    angle = 2 * np.pi * hashed_uniform(keys, _ADDRESS_SALT + 5)
    x = np.clip(centre_x + spread * np.cos(angle), 0, _CITY_METERS)
    y = np.clip(centre_y + spread * np.sin(angle), 0, _CITY_METERS)
    # Popularity ranks are a hashed permutation so popular pickups and drop-offs differ.
    target_rank = np.argsort(hashed_uniform(keys, _ADDRESS_SALT + 7))
    return Addresses(
        ids=hashed_uuids(keys, _ADDRESS_SALT),
        x=x,
        y=y,
        source_weights=_zipf(size, 0.8),
        target_weights=_zipf(size, 0.4)[target_rank],
    )


def popular_routes(addresses: Addresses, count: int) -> tuple[I64, I64]:
    """``count`` (source, target) address pairs that regular customers order again and again."""
    keys = np.arange(count)
    source = np.searchsorted(
        np.cumsum(addresses.source_weights), hashed_uniform(keys, _ADDRESS_SALT + 11)
    )
    target = np.searchsorted(
        np.cumsum(addresses.target_weights), hashed_uniform(keys, _ADDRESS_SALT + 13)
    )
    size = len(addresses.ids)
    source = np.minimum(source, size - 1)
    target = np.minimum(target, size - 1)
    return source, np.where(source == target, (target + 1) % size, target)


def distance_m(addresses: Addresses, source: I64, target: I64) -> F64:
    """Street distance between two addresses, within the platform's 1..75,000 m."""
    straight: F64 = np.hypot(
        addresses.x[source] - addresses.x[target], addresses.y[source] - addresses.y[target]
    )
    return np.clip(straight * _ROAD_FACTOR, 1.0, _MAX_DISTANCE_M)


def tariffs(end_epoch: float, first: float, every_seconds: float) -> Tariffs:
    """Config rows on a grid aligned to the Unix epoch, covering ``[first, 0]`` (end-relative).

    Values are smooth functions of the wall-clock time (weekly and daily cycles, a slow
    drift), so consecutive rows differ a little and two runs agree on every shared row.
    """
    start_slot = np.floor((end_epoch + first) / every_seconds) - 1
    end_slot = np.floor(end_epoch / every_seconds)
    slots = np.arange(start_slot, end_slot + 1)
    epoch = slots * every_seconds
    day = epoch / 86_400.0
    week = 2 * np.pi * day / 7
    daily = 2 * np.pi * day
    drift = 2 * np.pi * day / 91
    min_cost = 150 + 20 * np.sin(week + 1.0) + 6 * np.sin(daily - 2.0) + 10 * np.sin(drift)
    per_meter = 0.02 * (1 + 0.08 * np.sin(week) + 0.04 * np.sin(daily + 0.5) + 0.1 * np.sin(drift))
    return Tariffs(
        ids=hashed_uuids((epoch * 1_000_000).astype(np.int64), _CONFIG_SALT),
        fetched_at=epoch - end_epoch,
        min_cost=np.round(min_cost, 2),
        rubles_per_meter=np.round(per_meter, 5),
    )
