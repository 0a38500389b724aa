"""Build the DDS frames from the ODS and load them into ClickHouse as new versions.

Loading never deletes: every row is inserted with the caller's ``_version`` and
``ReplacingMergeTree`` keeps the highest version per key, so re-running a load (or replaying
one after a crash) converges to the same state. The same code serves chDB and a server:
both go through clickhouse-connect's ``insert_arrow``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import dataframely as dy
import polars as pl
from clickhouse_connect.driver.client import Client

from dwh.dds.dim_configs import DimConfigsSchema, build_dim_configs
from dwh.dds.dim_performers import DimPerformersSchema, build_dim_performers
from dwh.dds.fact_deliveries import FactDeliveriesSchema, build_fact_deliveries
from dwh.dds.fact_events import FactEventsSchema
from dwh.dds.fact_orders import FactOrdersSchema, build_fact_orders
from dwh.dds.fact_stages import FactStagesSchema, build_fact_stages
from dwh.dds.impact import PLACING_COLUMNS
from dwh.failpoints import failpoint

DEFAULT_BATCH_ROWS = 250_000

# A valid frame's keys are unique and every table's sorting key contains its frame's key, so a
# block never holds two rows for ReplacingMergeTree to collapse: skip the sort-and-merge pass
# that ``optimize_on_insert`` would run over every inserted block.
_INSERT_SETTINGS = {"optimize_on_insert": 0}

#: The loadable DDS tables and the schema each one's frames must satisfy.
DDS_SCHEMAS: Mapping[str, type[dy.Schema]] = {
    "fact_orders": FactOrdersSchema,
    "fact_deliveries": FactDeliveriesSchema,
    "fact_stages": FactStagesSchema,
    "fact_events": FactEventsSchema,
    "dim_performers": DimPerformersSchema,
    "dim_configs": DimConfigsSchema,
}


def build_dds(
    ods: Mapping[str, pl.LazyFrame], *, order_class_bands: Sequence[Decimal]
) -> dict[str, pl.LazyFrame]:
    """All DDS frames from the ODS frames ``orders``, ``pipelines``, ``stages``,
    ``deliveries``, ``configs`` and ``performers`` (lazy; nothing is collected)."""
    return {
        "fact_orders": build_fact_orders(ods["orders"], ods["pipelines"], ods["deliveries"]),
        "fact_deliveries": build_fact_deliveries(
            ods["orders"],
            ods["pipelines"],
            ods["deliveries"],
            order_class_bands=order_class_bands,
        ),
        "fact_stages": build_fact_stages(ods["stages"], ods["pipelines"]),
        "dim_performers": build_dim_performers(ods["performers"], ods["deliveries"]),
        "dim_configs": build_dim_configs(ods["configs"]),
    }


def load_dds(
    client: Client,
    tables: Mapping[str, pl.DataFrame],
    *,
    version: int,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    rules: bool = True,
) -> dict[str, int]:
    """Insert each frame into ``dds.<name>`` with ``_version = version``; return rows per table.

    Frames are validated against their schema first (:data:`DDS_SCHEMAS`; an unknown name or
    an invalid frame raises before anything of that table is written) and sent as Arrow
    batches of at most ``batch_rows`` rows, so a large frame is never copied whole. Use a
    ``version`` greater than every earlier load's (e.g. the run's start in microseconds):
    the highest version of a key wins.

    ``rules=False`` is for frames straight from :func:`build_dds` over ODS frames that satisfy
    the ODS schemas: their row rules (unique keys, uuid text, allowed values, contiguous
    attempts and occurrences) hold by construction — the property tests in ``tests/dds`` check
    every builder's output against its schema — and re-checking them costs more than the
    insert. Such frames are checked for structure only: the schema's columns with its exact
    dtypes, and no NULL where it forbids one. A frame that fails that check is validated in
    full, so it is cast or refused as with ``rules=True``.
    """
    if not 0 <= version < 2**64:
        raise ValueError(f"version must fit UInt64, got {version}")
    if batch_rows <= 0:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
    unknown = sorted(set(tables) - set(DDS_SCHEMAS))
    if unknown:
        raise ValueError(f"not DDS tables: {', '.join(unknown)}")
    loaded: dict[str, int] = {}
    for name, frame in tables.items():
        schema = DDS_SCHEMAS[name]
        valid = _structured(schema, frame) if not rules else None
        if valid is None:
            valid = _validated(schema, frame)
        versioned = valid.with_columns(pl.lit(version, dtype=pl.UInt64).alias("_version"))
        for offset in range(0, versioned.height, batch_rows):
            batch = versioned.slice(offset, batch_rows)
            client.insert_arrow(f"dds.{name}", batch.to_arrow(), settings=_INSERT_SETTINGS)
            failpoint("dds.inserting")
        loaded[name] = versioned.height
    return loaded


def _structured(schema: type[dy.Schema], frame: pl.DataFrame) -> pl.DataFrame | None:
    """``frame``'s schema columns if it has their exact dtypes and no forbidden NULL, else
    ``None`` (Arrow keeps null counts, so this reads no values)."""
    columns = schema.columns()
    if any(frame.schema.get(name) != column.dtype for name, column in columns.items()):
        return None
    if any(
        frame.get_column(name).null_count()
        for name, column in columns.items()
        if not column.nullable
    ):
        return None
    return frame.select(list(columns))


def _validated(schema: type[dy.Schema], frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as ``schema.validate(frame, cast=True)`` returns it, or its error.

    A frame that passes every rule as it is (the usual case) is only checked: ``validate``
    would also copy it into a filtered frame. Anything else — a castable dtype, a failure to
    report — takes ``validate`` itself.
    """
    if schema.is_valid(frame):
        return frame.select(schema.column_names())
    return schema.validate(frame, cast=True)


def affected_since(tables: Mapping[str, pl.DataFrame]) -> datetime | None:
    """The earliest time that places any of these fact rows in an hourly table or daily mart.

    Pass it as ``since`` to :func:`dwh.dds.refresh_hourly` and (its date) to
    :func:`dwh.marts.refresh_marts` after loading ``tables``: every hour and day a changed row
    can move is at or after it (a delivery's ``registered_at`` ≤ ``created_at`` ≤ its release).
    ``None`` when the frames hold no such rows.
    """
    earliest: list[datetime] = []
    for frame in tables.values():
        for column in PLACING_COLUMNS:
            if column in frame.columns and frame.height:
                value = frame.get_column(column).min()
                if isinstance(value, datetime):
                    earliest.append(value)
    return min(earliest, default=None)
