# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring the marts
#
# The marts (ClickHouse database `marts`) answer the platform's everyday questions: how orders
# convert, how long deliveries take against the SLA, which performers and routes carry the
# load. This notebook reads them with `dwh.warehouse.query_frame` (SQL in, Polars out) and
# plots them with matplotlib. Column meanings: `docs/DATA_DICTIONARY.md`.
#
# It runs as is against the embedded demo warehouse under `DWH_HOME` (default: `.dwh` at the
# repository root, where `dwh demo` puts it). If that warehouse is empty, the next cells build
# one like `dwh demo` does: a simulated source of `DWH_NOTEBOOK_ORDERS` orders (default 20,000)
# when the source is empty, then one ETL run. With `DWH_*_DSN` set it reads your warehouse.

# %%
import os
from itertools import pairwise
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

# Jupyter starts the kernel in the notebook's folder; settings (`.env`, the default `.dwh`)
# resolve from the repository root, as for the `dwh` command.
if Path.cwd().name == "notebooks" and (Path.cwd().parent / "pyproject.toml").exists():
    os.chdir(Path.cwd().parent)

from dwh.config import get_settings
from dwh.dds import order_class_names
from dwh.engines.embedded import start_embedded, wait_for_replica
from dwh.engines.postgres import connect
from dwh.orchestration import run_etl_job
from dwh.simulate import create_source_schema, simulate
from dwh.warehouse import query_frame

DEMO_ORDERS = int(os.environ.get("DWH_NOTEBOOK_ORDERS", "20000"))
settings = get_settings()

# %% [markdown]
# ## Build or reuse the warehouse
#
# Every `query_frame` call opens the warehouse briefly and closes it: embedded ClickHouse
# (chDB) allows one process at a time, so a long-held client would block `dwh run etl`.


# %%
def warehouse_orders() -> int:
    """Orders in `dds.fact_orders`; 0 when the warehouse has not been migrated yet."""
    exists = query_frame(
        settings,
        "SELECT count() AS n FROM system.tables WHERE database = 'dds' AND name = 'fact_orders'",
    )
    if exists.item() == 0:
        return 0
    return int(query_frame(settings, "SELECT count() AS n FROM dds.fact_orders").item())


if warehouse_orders() == 0:
    dsns = start_embedded(settings)
    create_source_schema(dsns.source)
    # Like `dwh demo`: simulate only into an empty source (a real platform is never empty).
    with connect(dsns.source, "DWH_SOURCE_DSN") as conn:
        row = conn.execute('SELECT count(*) FROM "order"').fetchone()
    if row is None or row[0] == 0:
        print(simulate(dsns.source, orders=DEMO_ORDERS))
    wait_for_replica(dsns.source, dsns.replica)
    print("loaded:", run_etl_job().extracted)

print(f"warehouse {settings.home}: {warehouse_orders():,} orders")

# %%
query_frame(
    settings,
    """
    SELECT
        (SELECT count() FROM dds.fact_orders) AS orders,
        (SELECT count() FROM dds.fact_deliveries) AS delivery_attempts,
        (SELECT countIf(is_completed) FROM dds.fact_deliveries) AS completed,
        (SELECT count() FROM dds.dim_performers) AS performers,
        (SELECT min(registered_at) FROM dds.fact_orders) AS first_order_at,
        (SELECT max(registered_at) FROM dds.fact_orders) AS last_order_at
    """,
)

# %% [markdown]
# ## Order funnel
#
# `marts.order_funnel_daily` is a cohort funnel: each day counts the orders *registered* that
# day by the furthest step any of their attempts reached. Recent days are still in progress,
# so their conversion is lower: many deliveries stay open for hours.

# %%
funnel = query_frame(
    settings,
    """
    SELECT day, registered_count, started_count, estimated_count, assigned_count,
           delivered_count, canceled_count, failed_count, conversion
    FROM marts.order_funnel_daily
    ORDER BY day
    """,
)
steps = {
    "registered": "registered_count",
    "started": "started_count",
    "estimated": "estimated_count",
    "assigned": "assigned_count",
    "delivered": "delivered_count",
}
totals = funnel.select(steps.values()).sum().row(0)
# Each step implies the previous one, so the funnel never widens; a failure here means a
# mart or a transform broke that promise.
assert all(earlier >= later for earlier, later in pairwise(totals)), totals

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
left.barh(list(steps)[::-1], totals[::-1], color="tab:blue")
for y, value in enumerate(totals[::-1]):
    left.text(value, y, f" {value:,} ({value / totals[0]:.0%})", va="center")
left.set_title("Funnel over the whole history")
left.set_xlim(0, totals[0] * 1.3)
right.plot(funnel["day"], funnel["conversion"], marker="o")
right.set_title("Conversion (delivered / registered) by registration day")
right.set_ylim(0, 1)
right.tick_params(axis="x", labelrotation=45)
plt.tight_layout()
plt.show()

# %%
funnel.tail(7)

# %% [markdown]
# ## Delivery time and SLA
#
# `marts.delivery_sla_daily` covers completed deliveries by day of release: percentiles of
# `delivery_seconds` (assigned → released) and the share within `DWH_SLA_TARGET_SECONDS`.

# %%
sla = query_frame(
    settings,
    """
    SELECT day, sla_target_seconds, deliveries_count,
           p50_delivery_seconds, p90_delivery_seconds, p99_delivery_seconds,
           share_within_target, mean_over_target_seconds
    FROM marts.delivery_sla_daily
    ORDER BY day
    """,
)
assert (sla["p50_delivery_seconds"] <= sla["p90_delivery_seconds"]).all()
assert (sla["p90_delivery_seconds"] <= sla["p99_delivery_seconds"]).all()

fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7), sharex=True)
for column, label in [("p50", "p50"), ("p90", "p90"), ("p99", "p99")]:
    top.plot(sla["day"], sla[f"{column}_delivery_seconds"] / 60, marker=".", label=label)
top.axhline(sla["sla_target_seconds"][0] / 60, color="red", linestyle="--", label="target")
top.set_ylabel("minutes")
top.set_title("Delivery time (assigned → released) by day of release")
top.legend()
bottom.bar(sla["day"], sla["share_within_target"], color="tab:green")
bottom.set_ylim(0, 1)
bottom.set_ylabel("share within target")
bottom.tick_params(axis="x", labelrotation=45)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Performer efficiency
#
# One row per performer (`marts.performer_efficiency`). Busy performers are not necessarily
# slow ones: the scatter shows the median delivery time against the completed deliveries.

# %%
performers = query_frame(
    settings,
    """
    SELECT performer_id, deliveries_count, completed_count, avg_cost,
           avg_delivery_seconds, p50_delivery_seconds, p90_delivery_seconds
    FROM marts.performer_efficiency
    """,
)
assert (performers["completed_count"] <= performers["deliveries_count"]).all()
completed = performers.filter(pl.col("p50_delivery_seconds").is_not_null())

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
left.scatter(completed["completed_count"], completed["p50_delivery_seconds"] / 60, alpha=0.5)
left.set_xlabel("completed deliveries")
left.set_ylabel("median delivery time, minutes")
left.set_title("Performers: load vs speed")
right.hist(completed["avg_cost"].drop_nulls(), bins=30, color="tab:orange")
right.set_xlabel("average cost, rubles")
right.set_title("Average delivery cost per performer")
plt.tight_layout()
plt.show()

performers.sort("completed_count", "performer_id", descending=[True, False]).head(10)

# %% [markdown]
# ## Popular routes
#
# `marts.popular_routes` ranks `(source_address_id, target_address_id)` pairs by orders with
# SQL `RANK()`: tied routes share a rank, so `route_rank <= 10` can return more than ten.

# %%
routes = query_frame(
    settings,
    """
    SELECT source_address_id, target_address_id, orders_count, route_rank
    FROM marts.popular_routes
    WHERE route_rank <= 10
    ORDER BY route_rank, source_address_id, target_address_id
    """,
)
labels = [
    f"{source[:8]} → {target[:8]}"
    for source, target in routes.select("source_address_id", "target_address_id").iter_rows()
]
fig, ax = plt.subplots(figsize=(10, 0.35 * len(labels) + 1))
ax.barh(labels[::-1], routes["orders_count"].to_list()[::-1], color="tab:purple")
ax.set_xlabel("orders")
ax.set_title("Top routes (address ids shortened)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Revenue by order class and failure reasons

# %%
revenue = query_frame(
    settings,
    """
    SELECT day, order_class, revenue
    FROM marts.revenue_daily
    WHERE order_class != 'unpriced'
    ORDER BY day, order_class
    """,
).pivot(on="order_class", index="day", values="revenue")
revenue = revenue.fill_null(0).sort("day")
# Bands from cheapest to dearest, as configured (DWH_ORDER_CLASS_BANDS).
bands = [name for name in order_class_names(settings.order_class_bands) if name in revenue.columns]
fig, ax = plt.subplots(figsize=(13, 4))
bottom_values = [0.0] * revenue.height
for order_class in bands:
    values = revenue[order_class].cast(pl.Float64).to_list()
    ax.bar(revenue["day"], values, bottom=bottom_values, label=order_class)
    bottom_values = [b + v for b, v in zip(bottom_values, values, strict=True)]
ax.set_ylabel("rubles")
ax.set_title("Revenue of completed deliveries by day of the attempt")
ax.legend()
ax.tick_params(axis="x", labelrotation=45)
plt.tight_layout()
plt.show()

# %%
query_frame(
    settings,
    """
    SELECT stage_name, status, message, failures_count, round(share, 3) AS share
    FROM marts.failure_reasons
    ORDER BY failures_count DESC
    LIMIT 10
    """,
)
