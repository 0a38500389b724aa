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
# # Reusing the transforms
#
# The warehouse's transforms are pure functions over Polars `LazyFrame`s: `dwh.ods.clean_*`
# turn raw source rows into the ODS, `dwh.dds.build_*` turn the ODS into the DDS facts. The ETL
# runs them between extract and load; here we run the very same functions in memory, on a
# simulated week of Sorting Hat data with the anomalies a real source can hold, and check the
# invariants the warehouse promises. Nothing here needs a database.
#
# 1. simulate raw source tables (`dwh.simulate.generate_history`);
# 2. clean them (`dwh.ods.clean_*`) and account for every row;
# 3. build the DDS (`dwh.dds.build_dds`) and validate it against its declared schemas;
# 4. check invariants and look at delivery times per order class.

# %%
import os
from itertools import pairwise

import matplotlib.pyplot as plt
import polars as pl
from IPython.display import display

from dwh.config import get_settings
from dwh.dds import DDS_SCHEMAS, build_dds, order_class_names
from dwh.ods import (
    build_performers,
    clean_configs,
    clean_deliveries,
    clean_orders,
    clean_pipelines,
    clean_stages,
)
from dwh.simulate import generate_history

ORDERS = int(os.environ.get("DWH_NOTEBOOK_ORDERS", "5000"))

# %% [markdown]
# ## 1. Raw source data
#
# One frame per source table, columns as in the platform's PostgreSQL. `anomalies=True` mixes
# in invalid rows (bad ids, impossible timestamps, unknown statuses) that the ODS must reject.

# %%
history = generate_history(ORDERS, days=7, seed=42, anomalies=True)
raw = history.tables()
pl.DataFrame({"table": list(raw), "rows": [frame.height for frame in raw.values()]})

# %% [markdown]
# ## 2. ODS cleanup
#
# Each `clean_*` splits its input three ways: `valid` rows for the ODS, `quarantined` rows
# (invalid on their own, with the reason) and `held_back` rows (valid, but their parent is not
# known yet, so a later run retries them). Parents are cleaned first: their valid keys are
# what the children's parent check accepts, as in the ETL.

# %%
orders = clean_orders(raw["order"].lazy()).collect()
pipelines = clean_pipelines(raw["pipeline"].lazy(), orders.valid.lazy().select("id")).collect()
pipeline_ids = pipelines.valid.lazy().select("id")
cleaned = {
    "configs": clean_configs(raw["config"].lazy()).collect(),
    "orders": orders,
    "pipelines": pipelines,
    "stages": clean_stages(raw["stage"].lazy(), pipeline_ids).collect(),
    "deliveries": clean_deliveries(raw["delivery"].lazy(), pipeline_ids).collect(),
}
source_table = {"configs": "config", "orders": "order", "pipelines": "pipeline"}
source_table |= {"stages": "stage", "deliveries": "delivery"}

accounting = pl.DataFrame(
    {
        "table": list(cleaned),
        "raw": [raw[source_table[name]].height for name in cleaned],
        "valid": [result.valid.height for result in cleaned.values()],
        "quarantined": [result.quarantined.height for result in cleaned.values()],
        "held_back": [result.held_back.height for result in cleaned.values()],
    }
)
# Invariant: no row is lost or counted twice.
assert accounting.select(
    (pl.col("raw") == pl.col("valid") + pl.col("quarantined") + pl.col("held_back")).all()
).item()
assert accounting["quarantined"].sum() > 0, "anomalies=True should produce rejects"
display(accounting)

# %%
pl.concat([result.quarantined for result in cleaned.values()]).group_by(
    "table_name", "reason"
).len().sort("len", "reason", descending=[True, False]).head(10)

# %% [markdown]
# ## 3. DDS facts
#
# `build_dds` takes the ODS tables as the ODS holds them. Two things the loader adds are
# supplied here: the `_deleted_at` load metadata (nothing was deleted in this source) and the
# derived `performers` table (`build_performers`). The cost bands come from the same settings
# the warehouse uses (`DWH_ORDER_CLASS_BANDS`).

# %%
no_deletes = pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_deleted_at")
ods = {name: result.valid.lazy().with_columns(no_deletes) for name, result in cleaned.items()}
ods["performers"] = build_performers(ods["deliveries"])

plans = build_dds(ods, order_class_bands=get_settings().order_class_bands)
dds = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))

# The schemas the loader validates against before writing to ClickHouse: keys unique and
# not null, types, and rules such as "is_completed iff released_at is set".
for name, frame in dds.items():
    DDS_SCHEMAS[name].validate(frame, cast=True)
pl.DataFrame({"table": list(dds), "rows": [frame.height for frame in dds.values()]})

# %% [markdown]
# ## 4. Invariants
#
# - one `fact_orders` row per valid order and one `fact_deliveries` row per valid pipeline;
# - `fact_stages` keeps re-delivered duplicate stage rows, and `is_latest` picks one per stage;
# - an order is delivered exactly when one of its attempts is completed;
# - the funnel never widens.

# %%
facts_orders, facts_deliveries, facts_stages = (
    dds["fact_orders"],
    dds["fact_deliveries"],
    dds["fact_stages"],
)
assert facts_orders.height == cleaned["orders"].valid.height
assert facts_deliveries.height == cleaned["pipelines"].valid.height

stage_keys = facts_stages.select("pipeline_id", "name").unique().height
duplicates = facts_stages.filter(pl.col("occurrence") > 1).height
assert facts_stages["is_latest"].sum() == stage_keys
print(f"{duplicates:,} duplicate stage rows kept, {stage_keys:,} stages")

completed_orders = set(facts_deliveries.filter("is_completed")["order_id"])
delivered_orders = set(facts_orders.filter("is_delivered")["order_id"])
assert completed_orders == delivered_orders

reached = facts_deliveries.group_by("order_id").agg(
    started=pl.col("started_at").is_not_null().any(),
    estimated=pl.col("estimated_at").is_not_null().any(),
    assigned=pl.col("assigned_at").is_not_null().any(),
    delivered=pl.col("is_completed").any(),
)
# Orders without any attempt yet still count as registered.
funnel = (
    facts_orders.select("order_id")
    .join(reached, on="order_id", how="left")
    .fill_null(False)
    .select(pl.len().alias("registered"), pl.exclude("order_id").sum())
)
assert all(earlier >= later for earlier, later in pairwise(funnel.row(0))), funnel
display(funnel)

# %% [markdown]
# The seed's first analytical query ("performer efficiency", `docs/QUERIES.md`) in Polars:
# the warehouse answers it in SQL from `dds.fact_deliveries`, here from the same facts.

# %%
facts_deliveries.filter(pl.col("released_at").is_not_null()).group_by("performer_id").agg(
    total_deliveries=pl.len(),
    avg_delivery_cost=pl.col("cost").cast(pl.Float64).mean(),
    avg_delivery_time_seconds=pl.col("delivery_seconds").mean(),
).sort("avg_delivery_time_seconds", "performer_id").head(5)

# %% [markdown]
# ## Delivery time by order class

# %%
timed = facts_deliveries.filter(pl.col("delivery_seconds").is_not_null())
bands = order_class_names(get_settings().order_class_bands)
classes = [name for name in bands if name in set(timed["order_class"])]
fig, ax = plt.subplots(figsize=(10, 4))
ax.boxplot(
    [
        (timed.filter(pl.col("order_class") == c)["delivery_seconds"] / 60).to_numpy()
        for c in classes
    ],
    tick_labels=classes,
    showfliers=False,
)
ax.set_ylabel("minutes (assigned → released)")
ax.set_title("Delivery time by order class")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The same on real data
#
# Swap steps 1 and 2 for the ODS itself: `dwh.ods.read_ods(dsn)` returns its tables as Polars
# frames (deleted rows and `performers` included), ready for `build_dds`:
#
# ```python
# from dwh.engines.embedded import start_embedded
# from dwh.ods import read_ods
#
# ods = {name: frame.lazy() for name, frame in read_ods(start_embedded(get_settings()).ods).items()}
# ```
