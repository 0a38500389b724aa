"""DDS layer (ClickHouse database ``dds``): ODS → DDS transforms, schema migrations, loading
and the hourly aggregate tables.

Typical run::

    apply_migrations(client)
    frames = {name: lf.collect() for name, lf in build_dds(ods, order_class_bands=bands).items()}
    load_dds(client, frames, version=run_version)
    refresh_hourly(client, since=affected_since(frames))
"""

from dwh.dds.dim_configs import DimConfigsSchema, build_dim_configs
from dwh.dds.dim_performers import (
    DimPerformersSchema,
    build_dim_performers,
    dim_performers_from_counts,
    merge_dim_performers,
    performer_counts,
)
from dwh.dds.fact_deliveries import (
    FactDeliveriesSchema,
    build_fact_deliveries,
    order_class,
    order_class_names,
)
from dwh.dds.fact_events import FactEventsSchema
from dwh.dds.fact_orders import FactOrdersSchema, build_fact_orders
from dwh.dds.fact_stages import FactStagesSchema, build_fact_stages
from dwh.dds.hourly import refresh_hourly
from dwh.dds.load import DDS_SCHEMAS, affected_since, build_dds, load_dds
from dwh.dds.migrate import MigrationError, apply_migrations, discover_migrations

__all__ = [
    "DDS_SCHEMAS",
    "DimConfigsSchema",
    "DimPerformersSchema",
    "FactDeliveriesSchema",
    "FactEventsSchema",
    "FactOrdersSchema",
    "FactStagesSchema",
    "MigrationError",
    "affected_since",
    "apply_migrations",
    "build_dds",
    "build_dim_configs",
    "build_dim_performers",
    "build_fact_deliveries",
    "build_fact_orders",
    "build_fact_stages",
    "dim_performers_from_counts",
    "discover_migrations",
    "load_dds",
    "merge_dim_performers",
    "order_class",
    "order_class_names",
    "performer_counts",
    "refresh_hourly",
]
