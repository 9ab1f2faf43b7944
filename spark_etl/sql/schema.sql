-- The relational model, applied by every job before it loads (idempotent: safe on an existing
-- database, never drops anything). Runs with search_path set to the configured schema.
-- All times are UTC in `timestamp` columns; money is numeric.

CREATE TABLE IF NOT EXISTS customer (
    customer_id bigint PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamp NOT NULL
);

CREATE TABLE IF NOT EXISTS product (
    product_id bigint PRIMARY KEY,
    name       text NOT NULL,
    sku        text NOT NULL,          -- product family: the source SKU up to the first '-'
    created_at timestamp NOT NULL
);
CREATE INDEX IF NOT EXISTS product_sku_idx ON product (sku);

-- Type-2 history of price and full SKU. Validity intervals are half-open [valid_from, valid_to)
-- and follow each other without gaps; the current one has valid_to NULL.
CREATE TABLE IF NOT EXISTS product_variation (
    product_variation_id bigint PRIMARY KEY CHECK (product_variation_id >= 1),
    product_id           bigint NOT NULL REFERENCES product (product_id),
    variation            text,         -- the source SKU after the first '-'
    full_sku             text NOT NULL,
    price                numeric(12, 2) NOT NULL CHECK (price >= 0),
    valid_from           timestamp NOT NULL,
    valid_to             timestamp,
    is_current           boolean NOT NULL,
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK (is_current = (valid_to IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS product_variation_current_uidx
    ON product_variation (product_id) WHERE is_current;
CREATE INDEX IF NOT EXISTS product_variation_product_idx
    ON product_variation (product_id, valid_from);
CREATE INDEX IF NOT EXISTS product_variation_full_sku_idx ON product_variation (full_sku);

-- Partitioned by month of created_at, then by hash of customer_id (leaves created by the jobs).
-- A partitioned table's key must contain the partition columns, so the key is
-- (cart_id, created_at, customer_id); the merge keeps cart_id unique on its own.
CREATE TABLE IF NOT EXISTS cart (
    cart_id              bigint NOT NULL,
    product_variation_id bigint NOT NULL REFERENCES product_variation (product_variation_id),
    product_id           bigint NOT NULL REFERENCES product (product_id),
    customer_id          bigint NOT NULL REFERENCES customer (customer_id),
    quantity             integer NOT NULL CHECK (quantity > 0),
    unit_price           numeric(12, 2) NOT NULL,
    amount               numeric(14, 2) NOT NULL,
    created_at           timestamp NOT NULL,
    deleted_at           timestamp,
    PRIMARY KEY (cart_id, created_at, customer_id),
    CHECK (amount = quantity * unit_price)
) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS cart_default PARTITION OF cart DEFAULT;
CREATE INDEX IF NOT EXISTS cart_customer_idx ON cart (customer_id, created_at);
CREATE INDEX IF NOT EXISTS cart_product_variation_idx ON cart (product_variation_id);
CREATE INDEX IF NOT EXISTS cart_product_idx ON cart (product_id, created_at);
CREATE INDEX IF NOT EXISTS cart_created_at_idx ON cart (created_at);

-- Staging: what Spark writes over JDBC before the merge. Unlogged (rebuilt on every run, not
-- worth WAL); emptied at the start of each run.
CREATE UNLOGGED TABLE IF NOT EXISTS stage_customer (
    customer_id bigint, name text, created_at timestamp
);
CREATE UNLOGGED TABLE IF NOT EXISTS stage_product (
    product_id bigint, name text, sku text, variation text, full_sku text,
    price numeric(12, 2), created_at timestamp
);
CREATE UNLOGGED TABLE IF NOT EXISTS stage_cart (
    cart_id bigint, product_variation_id bigint, product_id bigint, customer_id bigint,
    quantity integer, unit_price numeric(12, 2), amount numeric(14, 2),
    created_at timestamp, deleted_at timestamp
);
CREATE UNLOGGED TABLE IF NOT EXISTS stage_reject (
    source_file text, record_number bigint, raw_record text, reasons text
);

-- Run audit: one row per entity job run, succeeded or failed.
CREATE TABLE IF NOT EXISTS etl_run (
    run_id        uuid PRIMARY KEY,
    job           text NOT NULL,
    input         text,
    as_of         timestamp NOT NULL,
    started_at    timestamp NOT NULL,
    finished_at   timestamp,
    status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    rows_read     bigint,
    rows_loaded   bigint,
    rows_rejected bigint,          -- set aside for breaking a rule
    rows_duplicate bigint,         -- set aside as a repeated id (the winner is loaded)
    rows_inserted bigint,
    rows_updated  bigint,
    rows_flagged  bigint,          -- loaded rows with a soft anomaly (see etl_flag)
    stage_seconds jsonb,           -- wall time of read_validate, stage and merge
    error_message text
);
CREATE INDEX IF NOT EXISTS etl_run_job_started_idx ON etl_run (job, started_at);

-- Rows set aside: written in the same transaction as the load they belong to.
CREATE TABLE IF NOT EXISTS etl_reject (
    reject_id     bigserial PRIMARY KEY,
    run_id        uuid NOT NULL REFERENCES etl_run (run_id),
    job           text NOT NULL,
    source_file   text,
    record_number bigint,          -- 1 = the first record (data row) of source_file
    raw_record    jsonb NOT NULL,  -- the source record as read, all values as text
    reasons       text[] NOT NULL  -- every rule the record breaks
);
CREATE INDEX IF NOT EXISTS etl_reject_run_idx ON etl_reject (run_id);

-- Soft anomalies: the row is loaded as it is, and each anomaly it shows is listed here.
CREATE TABLE IF NOT EXISTS etl_flag (
    flag_id   bigserial PRIMARY KEY,
    run_id    uuid NOT NULL REFERENCES etl_run (run_id),
    job       text NOT NULL,
    record_id bigint NOT NULL,     -- customer_id, product_id or cart_id of the loaded row
    flag      text NOT NULL
);
CREATE INDEX IF NOT EXISTS etl_flag_run_idx ON etl_flag (run_id);
