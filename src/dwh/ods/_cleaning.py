"""The cleanup every ODS source table goes through: cast, validate, de-duplicate, check parents.

Each table module declares a :class:`TableRules` and calls :func:`clean`; the result splits the
raw rows into three disjoint frames (``valid``, ``quarantined``, ``held_back``) whose row counts
add up to the input's. Everything is lazy: callers collect the three frames together
(:meth:`Cleaned.collect`) so Polars computes the shared plan once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import polars as pl

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
STATUSES = ("pending", "in_progress", "succeeded", "failed", "canceled")
STAGE_NAMES = (
    "start_pipeline",
    "estimate_cost",
    "assign_performer",
    "perform_delivery",
    "release_performer",
)
TIMESTAMP = pl.Datetime("us", "UTC")
COST = pl.Decimal(12, 2)

QUARANTINE_SCHEMA = pl.Schema(
    {"table_name": pl.String, "record_key": pl.String, "reason": pl.String, "payload": pl.String}
)
NULL_KEY = "<null>"

_RAW = "__raw__"  # prefix of the untouched input columns, kept for payloads and held-back rows
_REASON = "__reason"
_REPEATED = "__repeated"  # the key is shared with another row that broke no rule
_KNOWN = "__known"  # the parent key is known (true) or not (null)


# Lifecycle order of a pipeline or stage row; a missing timestamp breaks no rule.
LIFECYCLE_CHECKS: Mapping[str, pl.Expr] = {
    "started_at before created_at": pl.col("started_at") < pl.col("created_at"),
    "finished_at before started_at": pl.col("finished_at") < pl.col("started_at"),
}


@dataclass(frozen=True)
class CleanedFrames:
    """The collected form of :class:`Cleaned`."""

    valid: pl.DataFrame
    quarantined: pl.DataFrame
    held_back: pl.DataFrame


Split = Callable[[pl.LazyFrame], tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]]


@dataclass(frozen=True)
class Cleaned:
    """Raw rows of one source table, split three ways (every input row lands in exactly one).

    - ``valid``: cleaned rows in the table's output schema, keys unique — ready for the ODS.
    - ``quarantined``: rows invalid on their own, as ``table_name, record_key, reason, payload``
      (payload = the raw row as a JSON object); ``reason`` lists every failed rule, ``"; "``-joined.
    - ``held_back``: valid rows whose parent key is not known yet, in the *raw* input schema so
      a later run can feed them back in; neither loaded nor quarantined.

    The three share one plan (cast and check every row), kept as ``checked`` and split by
    ``split``; :meth:`collect` computes the shared part once.
    """

    checked: pl.LazyFrame
    split: Split

    @property
    def valid(self) -> pl.LazyFrame:
        """Rows ready for the ODS (lazy)."""
        return self.split(self.checked)[0]

    @property
    def quarantined(self) -> pl.LazyFrame:
        """Rows invalid on their own (lazy)."""
        return self.split(self.checked)[1]

    @property
    def held_back(self) -> pl.LazyFrame:
        """Rows waiting for their parent (lazy)."""
        return self.split(self.checked)[2]

    def collect(self) -> CleanedFrames:
        """Collect the three frames, computing the shared checks once."""
        checked = self.checked.collect().lazy()
        valid, quarantined, held_back = pl.collect_all(list(self.split(checked)))
        return CleanedFrames(valid, quarantined, held_back)


@dataclass(frozen=True)
class TableRules:
    """What :func:`clean` needs to know about one source table.

    ``checks`` map a quarantine reason to an expression over the *cleaned* columns (or the input
    ones, via :func:`raw_value`) that is true when the row breaks the rule; null counts as "not
    broken", as in dataframely rules.
    ``converters`` replace the default cast of a column; they return null for values they cannot
    convert, and a matching check should name the reason.
    """

    table: str
    key: str
    dtypes: Mapping[str, pl.DataType]
    required: tuple[str, ...]
    uuid_columns: tuple[str, ...] = ()
    checks: Mapping[str, pl.Expr] = field(default_factory=dict)
    converters: Mapping[str, pl.Expr] = field(default_factory=dict)
    parent: str | None = None


def raw_value(column: str) -> pl.Expr:
    """The untouched input value of ``column`` (for checks that must see it before casting)."""
    return pl.col(f"{_RAW}{column}")


def _convert(rules: TableRules, column: str, dtype: pl.DataType) -> pl.Expr:
    if column in rules.converters:
        return rules.converters[column]
    if column in rules.uuid_columns:
        # The replica yields canonical lowercase text; anything else is normalised first so a
        # differently spelled copy of a key cannot become a second key.
        return pl.col(column).cast(pl.String, strict=False).str.strip_chars().str.to_lowercase()
    return pl.col(column).cast(dtype, strict=False)


def _failures(rules: TableRules) -> list[pl.Expr]:
    failures: list[pl.Expr] = [
        pl.when(raw_value(c).is_null()).then(pl.lit(f"{c} is null")) for c in rules.required
    ]
    failures += [
        pl.when(raw_value(c).is_not_null() & pl.col(c).is_null()).then(
            pl.lit(f"{c} is not a valid {dtype}")
        )
        for c, dtype in rules.dtypes.items()
        if c not in rules.converters
    ]
    failures += [
        pl.when(~pl.col(c).str.contains(UUID_PATTERN)).then(pl.lit(f"{c} is not a uuid"))
        for c in rules.uuid_columns
    ]
    failures += [pl.when(broken).then(pl.lit(reason)) for reason, broken in rules.checks.items()]
    return failures


def _raw_row(columns: list[str]) -> pl.Expr:
    return pl.struct([raw_value(c).alias(c) for c in columns]).struct.json_encode()


def clean(raw: pl.LazyFrame, rules: TableRules, known_parent_ids: pl.LazyFrame | None) -> Cleaned:
    """Split ``raw`` into valid, quarantined and held-back rows following ``rules``.

    Steps, in order: cast every column to its output type (uuids normalised to lowercase text);
    quarantine rows that break a rule; among the remaining rows keep one per key — the first by
    (key, cleaned values, raw values), so the choice does not depend on input order — and
    quarantine the other copies as ``duplicate <key>``; hold back rows whose ``rules.parent``
    is not among ``known_parent_ids`` (a frame with an ``id`` column).
    """
    columns = list(rules.dtypes)
    reasons = pl.concat_str(_failures(rules), separator="; ", ignore_nulls=True)
    passed_key = pl.when(pl.col(_REASON).is_null()).then(pl.col(rules.key))
    lf = (
        raw.select(columns)
        .with_columns(pl.col(c).alias(f"{_RAW}{c}") for c in columns)
        .with_columns(_convert(rules, c, dtype).alias(c) for c, dtype in rules.dtypes.items())
        .with_columns(pl.when(reasons != "").then(reasons).alias(_REASON))
        # Rows that broke a rule have a null here, so only keys shared by passing rows count.
        # Hashes are compared, twice as fast as text: a collision only sends a row through
        # the exact pick among repeated keys (see _split), which keeps it.
        .with_columns(passed_key.hash().is_duplicated().alias(_REPEATED))
    )
    if rules.parent is not None and known_parent_ids is not None:
        # One join marks both outcomes (a semi and an anti join would probe twice), and only
        # the key column goes through it: the other columns are not gathered into a copy.
        known = (
            known_parent_ids.select(
                pl.col("id").cast(pl.String).str.to_lowercase().alias(rules.parent)
            )
            .drop_nulls()
            .unique()
            .with_columns(pl.lit(True).alias(_KNOWN))
        )
        marks = lf.select(rules.parent).join(
            known, on=rules.parent, how="left", maintain_order="left"
        )
        lf = pl.concat([lf, marks.select(_KNOWN)], how="horizontal")
    return Cleaned(checked=lf, split=partial(_split, rules=rules))


def _split(
    lf: pl.LazyFrame, *, rules: TableRules
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """Valid, quarantined and held-back rows of checked rows (see :func:`clean`)."""
    columns = list(rules.dtypes)
    key = rules.key
    invalid = lf.filter(pl.col(_REASON).is_not_null())
    passed = lf.filter(pl.col(_REASON).is_null())

    # Only rows sharing a key are sorted: the deterministic pick costs nothing on clean input.
    order = [key, *(c for c in columns if c != key), *(f"{_RAW}{c}" for c in columns)]
    repeated = (
        passed.filter(_REPEATED)
        .sort(order, nulls_last=True)
        .with_columns(pl.col(key).is_first_distinct().alias("__first"))
    )
    unique = pl.concat(
        [passed.filter(~pl.col(_REPEATED)), repeated.filter("__first").drop("__first")],
        how="vertical",
    )
    duplicates = repeated.filter(~pl.col("__first")).drop("__first")
    duplicates = duplicates.with_columns(pl.lit(f"duplicate {key}").alias(_REASON))

    if _KNOWN in lf.collect_schema():
        accepted = unique.filter(pl.col(_KNOWN).is_not_null())
        held = unique.filter(pl.col(_KNOWN).is_null())
    else:
        accepted, held = unique, unique.head(0)

    quarantined = pl.concat([invalid, duplicates], how="vertical").select(
        pl.lit(rules.table).alias("table_name"),
        pl.coalesce(pl.col(key), raw_value(key).cast(pl.String), pl.lit(NULL_KEY)).alias(
            "record_key"
        ),
        pl.col(_REASON).alias("reason"),
        _raw_row(columns).alias("payload"),
    )
    return (
        accepted.select(columns),
        quarantined,
        held.select(raw_value(c).alias(c) for c in columns),
    )


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows (for loads that found nothing to quarantine)."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)
