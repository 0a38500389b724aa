"""Cluster DDL (``dwh.dds.cluster``): golden statements, every schema file, ClickHouse's parser."""

from __future__ import annotations

import re

import pytest
from clickhouse_connect.driver.client import Client

from dwh.config import Settings
from dwh.dds.cluster import (
    REPLICATED_PATH,
    SHARDED_PATH,
    ClusterDdlError,
    TableName,
    rewrite_statement,
    rewrite_statements,
    sharding_key,
    staging_engine,
    strip_comments,
)
from dwh.dds.migrate import MIGRATIONS_TABLE, apply_migrations, discover_migrations
from dwh.errors import ConfigError

FACT_ORDERS = """-- One row per order; a comment with a ; and 'quotes'.
CREATE TABLE IF NOT EXISTS dds.fact_orders
(
    order_id UUID,
    extra Nullable(String) DEFAULT '--not a comment;',
    registered_at DateTime64(6, 'UTC'),
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(registered_at)
ORDER BY (registered_at, order_id)"""

HOURLY = """CREATE TABLE IF NOT EXISTS dds.hourly_orders_mv
(
    hour DateTime64(6, 'UTC'),
    orders_count UInt64,
    _version UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(hour)
ORDER BY hour
SETTINGS allow_nullable_key = 1"""


def test_a_fact_becomes_a_replicated_local_table_under_a_distributed_table() -> None:
    local, distributed = rewrite_statement(FACT_ORDERS, "dwh")

    assert local == (
        "CREATE TABLE IF NOT EXISTS dds.fact_orders_local ON CLUSTER dwh\n"
        "(\n"
        "    order_id UUID,\n"
        "    extra Nullable(String) DEFAULT '--not a comment;',\n"
        "    registered_at DateTime64(6, 'UTC'),\n"
        "    _version UInt64\n"
        ")\n"
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{uuid}/{shard}', '{replica}', _version)\n"
        "PARTITION BY toYYYYMM(registered_at)\n"
        "ORDER BY (registered_at, order_id)"
    )
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS dds.fact_orders ON CLUSTER dwh AS dds.fact_orders_local\n"
        "ENGINE = Distributed('dwh', 'dds', 'fact_orders_local', "
        "cityHash64(registered_at, order_id))"
    )


def test_other_tables_are_replicated_whole_to_every_node() -> None:
    assert rewrite_statement(HOURLY, "dwh") == [
        "CREATE TABLE IF NOT EXISTS dds.hourly_orders_mv ON CLUSTER dwh\n"
        "(\n"
        "    hour DateTime64(6, 'UTC'),\n"
        "    orders_count UInt64,\n"
        "    _version UInt64\n"
        ")\n"
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{uuid}/all', '{replica}', _version)\n"
        "PARTITION BY toYYYYMM(hour)\n"
        "ORDER BY hour\n"
        "SETTINGS allow_nullable_key = 1"
    ]
    plain = "CREATE TABLE marts.x (k UInt8) ENGINE = MergeTree ORDER BY k"
    assert rewrite_statement(plain, "c1") == [
        "CREATE TABLE marts.x ON CLUSTER c1\n(k UInt8)\n"
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{replica}') ORDER BY k"
    ]


def test_databases_views_and_non_merge_tree_tables_only_gain_on_cluster() -> None:
    assert rewrite_statement("CREATE DATABASE IF NOT EXISTS dds", "dwh") == [
        "CREATE DATABASE IF NOT EXISTS dds ON CLUSTER dwh"
    ]
    assert rewrite_statement(
        "CREATE VIEW IF NOT EXISTS dds.fact_x AS SELECT 1 FROM dds.fact_orders", "dwh"
    ) == ["CREATE VIEW IF NOT EXISTS dds.fact_x ON CLUSTER dwh AS SELECT 1 FROM dds.fact_orders"]
    assert rewrite_statement("CREATE TABLE dds.fact_buffer (k UInt8) ENGINE = Memory", "dwh") == [
        "CREATE TABLE dds.fact_buffer ON CLUSTER dwh (k UInt8) ENGINE = Memory"
    ]


def test_alter_drop_truncate_and_optimize_of_a_fact_reach_its_local_table() -> None:
    add = "ALTER TABLE dds.fact_orders ADD COLUMN note Nullable(String), DROP COLUMN extra"
    assert rewrite_statement(add, "dwh") == [
        "ALTER TABLE dds.fact_orders_local ON CLUSTER dwh"
        " ADD COLUMN note Nullable(String), DROP COLUMN extra",
        "ALTER TABLE dds.fact_orders ON CLUSTER dwh"
        " ADD COLUMN note Nullable(String), DROP COLUMN extra",
    ]
    ttl = "ALTER TABLE dds.fact_orders MODIFY TTL toDateTime(registered_at) + INTERVAL 1 YEAR"
    assert rewrite_statement(ttl, "dwh") == [
        "ALTER TABLE dds.fact_orders_local ON CLUSTER dwh"
        " MODIFY TTL toDateTime(registered_at) + INTERVAL 1 YEAR"
    ]
    assert rewrite_statement("DROP TABLE IF EXISTS dds.fact_orders SYNC", "dwh") == [
        "DROP TABLE IF EXISTS dds.fact_orders ON CLUSTER dwh SYNC",
        "DROP TABLE IF EXISTS dds.fact_orders_local ON CLUSTER dwh SYNC",
    ]
    assert rewrite_statement("TRUNCATE TABLE dds.fact_stages", "dwh") == [
        "TRUNCATE TABLE dds.fact_stages_local ON CLUSTER dwh"
    ]
    optimize = "OPTIMIZE TABLE dds.fact_stages PARTITION ID '202611' FINAL"
    assert rewrite_statement(optimize, "dwh") == [
        "OPTIMIZE TABLE dds.fact_stages_local ON CLUSTER dwh PARTITION ID '202611' FINAL"
    ]
    assert rewrite_statement("ALTER TABLE marts.x MODIFY COLUMN k UInt16", "dwh") == [
        "ALTER TABLE marts.x ON CLUSTER dwh MODIFY COLUMN k UInt16"
    ]
    assert rewrite_statement("DROP VIEW dds.fact_events_resolved", "dwh") == [
        "DROP VIEW dds.fact_events_resolved ON CLUSTER dwh"
    ]


def test_data_statements_pass_through_to_the_distributed_tables() -> None:
    insert = "INSERT INTO dds.fact_orders SELECT * FROM dds.fact_orders WHERE 0"
    assert rewrite_statement(insert, "dwh") == [insert]
    assert rewrite_statement("-- only a comment", "dwh") == []


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("RENAME TABLE dds.fact_orders TO dds.f", "not supported"),
        ("CREATE MATERIALIZED VIEW dds.m TO dds.t AS SELECT 1", "materialized views"),
        ("CREATE TABLE dds.t ON CLUSTER x (k UInt8) ENGINE = MergeTree ORDER BY k", "cluster"),
        (
            "CREATE TABLE dds.t (k UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY k",
            "one server",
        ),
        ("CREATE TABLE dds.fact_t AS dds.fact_orders", "column list"),
        ("CREATE TABLE dds.fact_t (k UInt8) ENGINE = MergeTree ORDER BY tuple()", "sorting key"),
        ("CREATE TABLE fact_t (k UInt8) ENGINE = MergeTree ORDER BY k", "db.table"),
        ("ALTER TABLE dds.fact_orders ADD COLUMN a UInt8, MODIFY TTL toDate(x)", "separate"),
    ],
)
def test_statements_that_cannot_be_rewritten_are_refused(statement: str, problem: str) -> None:
    with pytest.raises(ClusterDdlError, match=problem):
        rewrite_statement(statement, "dwh")


@pytest.mark.parametrize("cluster", ["", "a-b", "x; DROP", "1st"])
def test_cluster_names_must_be_plain_identifiers(cluster: str) -> None:
    with pytest.raises(ClusterDdlError, match="DWH_CLICKHOUSE_CLUSTER"):
        rewrite_statement(HOURLY, cluster)


def test_the_setting_refuses_what_the_rewrite_would(monkeypatch: pytest.MonkeyPatch) -> None:
    from dwh.config import get_settings

    monkeypatch.setenv("DWH_CLICKHOUSE_CLUSTER", "dwh; DROP")
    with pytest.raises(ConfigError, match="DWH_CLICKHOUSE_CLUSTER"):
        get_settings()
    assert Settings(clickhouse_cluster="dwh_1").clickhouse_cluster == "dwh_1"


def test_sharding_key_is_the_whole_sorting_key() -> None:
    assert sharding_key("\nORDER BY k") == "cityHash64(k)"
    assert sharding_key(" PARTITION BY toYYYYMM(t) ORDER BY (a, toDate(t)) SETTINGS x = 1") == (
        "cityHash64(a, toDate(t))"
    )
    assert sharding_key(" ORDER BY (event_timestamp, topic, `partition`, `offset`) TTL t") == (
        "cityHash64(event_timestamp, topic, `partition`, `offset`)"
    )


def test_table_names() -> None:
    assert TableName.parse("`dds`.`fact_orders`").local == TableName("dds", "fact_orders_local")
    assert TableName.parse("marts.fact_like").local == TableName("marts", "fact_like")
    assert not TableName.parse("dds.dim_performers").is_sharded


def test_strip_comments_keeps_literals() -> None:
    text = "SELECT '--x' AS a, /* gone */ 'b;' -- gone\nFROM t;"
    assert strip_comments(text) == "SELECT '--x' AS a,   'b;'\nFROM t"


def test_staging_engine_drops_replication() -> None:
    engine = (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/all', '{replica}', _version) "
        "PARTITION BY toYYYYMM(hour) ORDER BY hour SETTINGS index_granularity = 8192"
    )
    assert staging_engine(engine) == (
        "ReplacingMergeTree(_version) PARTITION BY toYYYYMM(hour) ORDER BY hour "
        "SETTINGS index_granularity = 8192"
    )
    assert staging_engine("ReplicatedMergeTree('/p', 'r') ORDER BY k") == "MergeTree() ORDER BY k"
    assert staging_engine("ReplacingMergeTree(_version) ORDER BY k") == (
        "ReplacingMergeTree(_version) ORDER BY k"
    )


def _all_cluster_ddl() -> list[str]:
    statements = [s for m in discover_migrations() for s in m.statements()]
    return rewrite_statements(statements, "dwh")


def test_every_schema_file_rewrites_by_the_rule() -> None:
    ddl = _all_cluster_ddl()
    created = [re.match(r"CREATE (TABLE|VIEW|DATABASE) (IF NOT EXISTS )?(\S+)", s) for s in ddl]
    assert all(created), "every schema statement is a CREATE"
    assert all(" ON CLUSTER dwh" in statement for statement in ddl)
    tables = {m[3]: s for m, s in zip(created, ddl, strict=True) if m and m[1] == "TABLE"}
    facts = [name for name in tables if re.fullmatch(r"dds\.fact_\w+", name)]
    assert {"dds.fact_orders", "dds.fact_deliveries", "dds.fact_stages"} <= set(facts)
    for name in facts:
        if name.endswith("_local"):
            assert SHARDED_PATH in tables[name]
            continue
        assert (
            f"ENGINE = Distributed('dwh', 'dds', '{name[4:]}_local', cityHash64(" in (tables[name])
        )
    others = [n for n in tables if not n.startswith("dds.fact_")]
    assert {"dds.hourly_orders_mv", "marts.performer_efficiency"} <= set(others)
    assert all(REPLICATED_PATH in tables[name] for name in others)


def test_cluster_ddl_parses_in_clickhouse(clickhouse: Client) -> None:
    for statement in _all_cluster_ddl():
        formatted = clickhouse.query(
            "SELECT formatQuery({q:String})", parameters={"q": statement}
        ).result_rows[0][0]
        assert "ON CLUSTER dwh" in formatted


def test_migrations_send_cluster_ddl_when_a_cluster_is_configured(
    clickhouse: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chDB has no cluster: ClickHouse itself refusing the first statement proves it was
    # rewritten and sent; nothing is recorded as applied.
    monkeypatch.setenv("DWH_CLICKHOUSE_CLUSTER", "dwh")
    with pytest.raises(Exception, match="cluster 'dwh' not found"):
        apply_migrations(clickhouse)
    assert apply_migrations(clickhouse, cluster="")  # explicit "" wins over the setting
    assert clickhouse.query(f"SELECT count() FROM {MIGRATIONS_TABLE}").result_rows[0][0] > 0


def test_a_staging_copy_made_with_staging_engine_swaps_partitions(clickhouse: Client) -> None:
    # What dwh.dds._rebuild needs on a cluster, shown on one server: the copy created with
    # the table's engine clause accepts REPLACE PARTITION back into the table.
    apply_migrations(clickhouse, cluster="")
    engine_full = clickhouse.query(
        "SELECT engine_full FROM system.tables WHERE database = 'dds' AND name = 'hourly_orders_mv'"
    ).result_rows[0][0]
    clickhouse.command(
        f"CREATE TABLE dds._staging AS dds.hourly_orders_mv ENGINE = {staging_engine(engine_full)}"
    )
    clickhouse.command("INSERT INTO dds._staging VALUES ('2026-11-01 10:00:00', 3, 2, 1, 1)")
    clickhouse.command(
        "ALTER TABLE dds.hourly_orders_mv REPLACE PARTITION ID '202611' FROM dds._staging"
    )
    rows = clickhouse.query("SELECT orders_count FROM dds.hourly_orders_mv").result_rows
    assert rows == [(3,)]
