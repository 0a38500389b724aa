"""The source DDL matches DESIGN §1: columns, types, NULLability, keys, cascades, indexes."""

from __future__ import annotations

import psycopg

from dwh.simulate import create_source_schema

# (column, data_type, character_maximum_length, is_nullable) per table, in column order.
COLUMNS = {
    "config": [
        ("id", "uuid", None, "NO"),
        ("min_cost", "double precision", None, "NO"),
        ("rubles_per_meter", "double precision", None, "NO"),
        ("fetched_at", "timestamp with time zone", None, "NO"),
    ],
    "order": [
        ("id", "uuid", None, "NO"),
        ("source_address_id", "uuid", None, "NO"),
        ("target_address_id", "uuid", None, "NO"),
        ("extra", "character varying", None, "YES"),
        ("registered_at", "timestamp with time zone", None, "NO"),
    ],
    "pipeline": [
        ("id", "uuid", None, "NO"),
        ("order_id", "uuid", None, "NO"),
        ("status", "character varying", 15, "NO"),
        ("message", "character varying", None, "YES"),
        ("created_at", "timestamp with time zone", None, "NO"),
        ("started_at", "timestamp with time zone", None, "YES"),
        ("finished_at", "timestamp with time zone", None, "YES"),
    ],
    "stage": [
        ("id", "uuid", None, "NO"),
        ("pipeline_id", "uuid", None, "NO"),
        ("name", "character varying", 31, "NO"),
        ("status", "character varying", 15, "NO"),
        ("message", "character varying", None, "YES"),
        ("created_at", "timestamp with time zone", None, "NO"),
        ("started_at", "timestamp with time zone", None, "YES"),
        ("finished_at", "timestamp with time zone", None, "YES"),
    ],
    "delivery": [
        ("pipeline_id", "uuid", None, "NO"),
        ("cost", "double precision", None, "YES"),
        ("estimated_at", "timestamp with time zone", None, "YES"),
        ("performer_id", "uuid", None, "YES"),
        ("assigned_at", "timestamp with time zone", None, "YES"),
        ("released_at", "timestamp with time zone", None, "YES"),
    ],
}
PRIMARY_KEYS = {
    "config": ["id"],
    "order": ["id"],
    "pipeline": ["id"],
    "stage": ["id"],
    "delivery": ["pipeline_id"],
}
# (table, column, referenced table, referenced column, delete rule)
FOREIGN_KEYS = {
    ("pipeline", "order_id", "order", "id", "CASCADE"),
    ("stage", "pipeline_id", "pipeline", "id", "CASCADE"),
    ("delivery", "pipeline_id", "pipeline", "id", "CASCADE"),
}
# Secondary (non-unique) indexes: table -> set of column lists.
INDEXES = {
    "config": {("fetched_at",)},
    "order": {("registered_at",)},
    "pipeline": {("order_id",), ("order_id", "created_at")},
    "stage": set(),
    "delivery": set(),
}


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def test_schema_matches_design_and_is_idempotent(pg_dsn: str) -> None:
    create_source_schema(pg_dsn)
    create_source_schema(pg_dsn)

    tables = {
        r[0]
        for r in _rows(
            pg_dsn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert tables == set(COLUMNS)
    for table, expected in COLUMNS.items():
        columns = _rows(
            pg_dsn,
            f"""
            SELECT column_name, data_type, character_maximum_length, is_nullable
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position""",
        )
        assert columns == expected, table


def test_keys_and_cascades(pg_dsn: str) -> None:
    create_source_schema(pg_dsn)

    primary = _rows(
        pg_dsn,
        """
        SELECT tc.table_name, kcu.column_name
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public'
        ORDER BY tc.table_name, kcu.ordinal_position""",
    )
    found: dict[str, list[str]] = {}
    for table, column in primary:
        found.setdefault(str(table), []).append(str(column))
    assert found == PRIMARY_KEYS

    foreign = _rows(
        pg_dsn,
        """
        SELECT kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name, rc.delete_rule
        FROM information_schema.referential_constraints rc
        JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
        JOIN information_schema.constraint_column_usage ccu
          USING (constraint_schema, constraint_name)
        WHERE rc.constraint_schema = 'public'""",
    )
    assert set(foreign) == FOREIGN_KEYS


def test_indexes(pg_dsn: str) -> None:
    create_source_schema(pg_dsn)

    rows = _rows(
        pg_dsn,
        """
        SELECT t.relname, array_agg(a.attname ORDER BY k.ord)::text[]
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE NOT i.indisprimary
        GROUP BY i.indexrelid, t.relname""",
    )
    found: dict[str, set[tuple[str, ...]]] = {table: set() for table in INDEXES}
    for table, columns in rows:
        assert isinstance(columns, list)
        found[str(table)].add(tuple(columns))
    assert found == INDEXES


def test_cascade_deletes_children(pg_dsn: str) -> None:
    create_source_schema(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("""
            INSERT INTO "order" VALUES ('00000000-0000-4000-8000-000000000001',
                gen_random_uuid(), gen_random_uuid(), NULL, now());
            INSERT INTO pipeline VALUES ('00000000-0000-4000-8000-000000000002',
                '00000000-0000-4000-8000-000000000001', 'in_progress', NULL, now(), now(), NULL);
            INSERT INTO stage VALUES (gen_random_uuid(), '00000000-0000-4000-8000-000000000002',
                'start_pipeline', 'succeeded', NULL, now(), now(), now());
            INSERT INTO delivery (pipeline_id) VALUES ('00000000-0000-4000-8000-000000000002');
            DELETE FROM "order";""")
        left = conn.execute(
            "SELECT (SELECT count(*) FROM pipeline) + (SELECT count(*) FROM stage)"
            " + (SELECT count(*) FROM delivery)"
        ).fetchone()
    assert left == (0,)
