-- Source schema of the Sorting Hat platform (DESIGN §1), as `dwh simulate` creates it.
-- Idempotent and portable to PostgreSQL 14-18: every object is named explicitly, because
-- IF NOT EXISTS matches by name and an unnamed index would be created again on each run.
-- Columns the platform leaves NULL until a stage sets them are the only nullable ones.

CREATE TABLE IF NOT EXISTS config (
    id               uuid             NOT NULL,
    min_cost         double precision NOT NULL,
    rubles_per_meter double precision NOT NULL,
    fetched_at       timestamptz      NOT NULL,
    CONSTRAINT config_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_config_fetched_at ON config (fetched_at);

CREATE TABLE IF NOT EXISTS "order" (
    id                uuid        NOT NULL,
    source_address_id uuid        NOT NULL,
    target_address_id uuid        NOT NULL,
    extra             varchar     NULL,
    registered_at     timestamptz NOT NULL,
    CONSTRAINT order_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_order_registered_at ON "order" (registered_at);

CREATE TABLE IF NOT EXISTS pipeline (
    id          uuid        NOT NULL,
    order_id    uuid        NOT NULL,
    status      varchar(15) NOT NULL,
    message     varchar     NULL,
    created_at  timestamptz NOT NULL,
    started_at  timestamptz NULL,
    finished_at timestamptz NULL,
    CONSTRAINT pipeline_pkey PRIMARY KEY (id),
    CONSTRAINT pipeline_order_id_fkey FOREIGN KEY (order_id)
        REFERENCES "order" (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_pipeline_order_id ON pipeline (order_id);
CREATE INDEX IF NOT EXISTS ix_pipeline_order_id_created_at ON pipeline (order_id, created_at);

CREATE TABLE IF NOT EXISTS stage (
    id          uuid        NOT NULL,
    pipeline_id uuid        NOT NULL,
    name        varchar(31) NOT NULL,
    status      varchar(15) NOT NULL,
    message     varchar     NULL,
    created_at  timestamptz NOT NULL,
    started_at  timestamptz NULL,
    finished_at timestamptz NULL,
    CONSTRAINT stage_pkey PRIMARY KEY (id),
    CONSTRAINT stage_pipeline_id_fkey FOREIGN KEY (pipeline_id)
        REFERENCES pipeline (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS delivery (
    pipeline_id  uuid             NOT NULL,
    cost         double precision NULL,
    estimated_at timestamptz      NULL,
    performer_id uuid             NULL,
    assigned_at  timestamptz      NULL,
    released_at  timestamptz      NULL,
    CONSTRAINT delivery_pkey PRIMARY KEY (pipeline_id),
    CONSTRAINT delivery_pipeline_id_fkey FOREIGN KEY (pipeline_id)
        REFERENCES pipeline (id) ON DELETE CASCADE
);
