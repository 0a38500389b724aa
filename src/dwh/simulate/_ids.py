"""Identifiers and per-entity traits as numpy arrays: random (seeded) or hashed (stable)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Byte offsets of the 32 hex digits inside the 36-character canonical form.
_DIGIT_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.intp)


def random_uuids(rng: np.random.Generator, n: int) -> U8:
    """``n`` version-4 uuids as an ``(n, 16)`` byte array, drawn from ``rng`` (so seeded)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    return _stamp_v4(raw)


def hashed_uuids(keys: npt.ArrayLike, salt: int) -> U8:
    """Version-4-shaped uuids that depend only on ``(key, salt)``.

    Used for pools shared by every run (performers, addresses, tariffs), so a second
    ``simulate`` with another seed reuses the same performers and addresses.
    """
    k = np.asarray(keys, dtype=np.uint64)
    hi = splitmix64(k ^ np.uint64(salt))
    lo = splitmix64(hi ^ np.uint64(0x5BD1E995))
    raw = np.stack([hi, lo], axis=1).astype(">u8").view(np.uint8).reshape(len(k), 16).copy()
    return _stamp_v4(raw)


def _stamp_v4(raw: U8) -> U8:
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def splitmix64(x: U64) -> U64:
    """The splitmix64 finaliser: a cheap, well-mixed hash of 64-bit integers."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hashed_uniform(keys: npt.ArrayLike, salt: int) -> F64:
    """Uniform floats in (0, 1) that depend only on ``(key, salt)``."""
    h = splitmix64(np.asarray(keys, dtype=np.uint64) ^ splitmix64(np.full(1, salt, np.uint64)))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def uuid_strings(raw: U8) -> pl.Series:
    """Canonical text of ``(n, 16)`` uuid bytes, built in bulk (no per-row Python objects)."""
    n = raw.shape[0]
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_POS] = digits
    return pl.Series(text.view("S36").ravel()).cast(pl.String)
