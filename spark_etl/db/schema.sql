-- The audit tables, applied by every job before it loads (idempotent: safe on an existing
-- database, never drops anything). Runs with search_path set to the configured schema.
-- All times are UTC in `timestamp` columns; money is numeric.

-- The entity tables (model, history and staging) are created and migrated from the entity
-- definitions (spark_etl/definitions/entities/*.yaml, see spark_etl.db.migrations); this file holds what is
-- not an entity: the rejects' staging table and the run audit.

-- Staging of the rows set aside, written by Spark before the merge; unlogged, emptied per run.
CREATE UNLOGGED TABLE IF NOT EXISTS stage_reject (
    source_file text, record_number bigint, raw_record text, reasons text,
    stage_attempt bigint  -- the Spark task attempt that wrote the row (see below)
);
DO $$ BEGIN  -- added later: checked first, as ALTER TABLE locks even when the column exists
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'stage_reject'
                   AND table_schema = current_schema() AND column_name = 'stage_attempt') THEN
        ALTER TABLE stage_reject ADD COLUMN stage_attempt bigint;
    END IF;
END $$;

-- A write into a staging table may see a task run twice (an executor lost after its task
-- committed, speculation): only the attempt Spark counted is kept (spark_etl.db.attempts).
-- The open write of each staging table; sealed once Spark has returned its results.
CREATE UNLOGGED TABLE IF NOT EXISTS stage_write (
    stage_table text PRIMARY KEY,
    write_id    uuid NOT NULL,
    sealed      boolean NOT NULL
);
-- Every task attempt that committed rows into a write, recorded in the same transaction.
CREATE UNLOGGED TABLE IF NOT EXISTS stage_attempt (
    write_id       uuid NOT NULL,
    attempt        bigint NOT NULL,   -- Spark's task attempt id: the rows' stage_attempt
    partition      integer NOT NULL,
    attempt_number integer NOT NULL,  -- 0 for a task's first attempt
    rows           bigint NOT NULL,
    kept           boolean,           -- set when the write is settled
    PRIMARY KEY (write_id, attempt)
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
-- Added by the quality gates (docs/quality.md): what the row-count check compares a run with.
-- (Checked first: ALTER TABLE would lock etl_run even when the columns exist.)
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'etl_run'
                   AND table_schema = current_schema() AND column_name = 'quality') THEN
        ALTER TABLE etl_run
            ADD COLUMN extract text,      -- snapshot (every row) or delta (what changed)
            ADD COLUMN backfill boolean,  -- loaded with an --as-of before the run started
            ADD COLUMN quality text;      -- the gates' verdict: pass, warn or fail
    END IF;
END $$;

-- The figures of every load, one row per measure (see spark_etl.db.metrics): counts, rows per
-- reason and per flag, phase times and rows/s, and each quality gate's figure and verdict.
-- Kept for the runs' history (the quality command, the report); retention.audit_days archives
-- them with the rejects and flags of old runs.
CREATE TABLE IF NOT EXISTS etl_run_metric (
    run_id     uuid NOT NULL REFERENCES etl_run (run_id),
    job        text NOT NULL,
    entity     text NOT NULL,
    started_at timestamp NOT NULL,   -- the run's, for "last night against the last month"
    metric     text NOT NULL,        -- rows_read, reason_rows, seconds, gate, ... (see there)
    detail     text NOT NULL,        -- the reason, flag, phase or gate ('' when none)
    -- numeric(20,6): a count, seconds or a share to the millionth, the same as text in
    -- PostgreSQL and in Spark (the retention job's archives are checked by the values' text)
    value      numeric(20,6),        -- the count, seconds or share (NULL: not measured)
    warn_at    numeric(20,6),        -- a gate's thresholds
    fail_at    numeric(20,6),
    verdict    text CHECK (verdict IN ('pass', 'warn', 'fail', 'unchecked')),
    message    text,                 -- a gate's sentence when it did not pass
    PRIMARY KEY (run_id, metric, detail)
);
CREATE INDEX IF NOT EXISTS etl_run_metric_job_idx ON etl_run_metric (job, started_at);

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

-- Soft anomalies: the row is loaded as it is, and each anomaly it shows is listed here. A load
-- writes a row per anomaly (two million at 3M cart lines, when most lines predate their
-- product or customer), so the table has no surrogate key and no foreign key: their sequence,
-- index and per-row check of etl_run took four fifths of that write. A run's flags are written
-- by the load that recorded the run, holding its etl_run row (spark_etl.db.flags).
CREATE TABLE IF NOT EXISTS etl_flag (
    run_id    uuid NOT NULL,       -- the etl_run of the load
    job       text NOT NULL,
    record_id bigint NOT NULL,     -- customer_id, product_id or cart_id of the loaded row
    flag      text NOT NULL
);
CREATE INDEX IF NOT EXISTS etl_flag_run_idx ON etl_flag (run_id);
-- A table of an earlier version loses its key and foreign key, once (checked first: ALTER
-- TABLE would lock etl_flag on every load).
DO $$
DECLARE
    foreign_key name;
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'etl_flag'
               AND table_schema = current_schema() AND column_name = 'flag_id') THEN
        ALTER TABLE etl_flag DROP COLUMN flag_id;  -- its primary key goes with it
    END IF;
    FOR foreign_key IN SELECT conname FROM pg_constraint
                       WHERE conrelid = CAST(to_regclass('etl_flag') AS oid) AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE etl_flag DROP CONSTRAINT %I', foreign_key);
    END LOOP;
END $$;

-- What the lake (lake.warehouse) still has to take from PostgreSQL: written in the transaction
-- that commits a load, deleted once the lake's snapshot of that table commits. A lake write
-- that failed or was killed leaves its rows here, and the next load of the entity (or
-- `spark-etl lake sync`) writes those ranges again (spark_etl.db.lake_pending).
CREATE TABLE IF NOT EXISTS etl_lake_pending (
    table_name  text NOT NULL,        -- a model table the lake keeps
    range_start date,                 -- the start of a changed range; NULL: the whole table
    run_id      uuid NOT NULL,        -- the load that changed it
    recorded_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- Every change made to the entity tables from their definitions (see spark_etl.db.migrations).
CREATE TABLE IF NOT EXISTS etl_migration (
    migration_id bigserial PRIMARY KEY,
    run_id       uuid REFERENCES etl_run (run_id),   -- NULL when applied by the analytics job
    job          text NOT NULL,
    table_name   text NOT NULL,
    change       text NOT NULL,   -- what, in words: "add column cart.coupon (text)"
    statement    text NOT NULL,   -- the SQL that was run
    applied_at   timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- Data moved out of PostgreSQL by the retention job (see spark_etl.retention): one row per
-- verified Parquet archive, written in the transaction that drops (or deletes) what it holds.
CREATE TABLE IF NOT EXISTS etl_archive (
    archive_id     bigserial PRIMARY KEY,
    table_name     text NOT NULL,        -- cart (a month partition), etl_reject, etl_flag
    period         date NOT NULL,        -- the month archived; for audit rows, the day before
                                         -- which their runs started
    path           text NOT NULL,        -- the Parquet folder
    row_count      bigint NOT NULL,
    checksum       numeric NOT NULL,     -- sum of the rows' hashes (spark_etl.checksums)
    bytes          bigint NOT NULL,      -- what the rows took in PostgreSQL
    run_id         uuid NOT NULL REFERENCES etl_run (run_id),
    archived_at    timestamp NOT NULL,
    restored_at    timestamp,            -- brought back by the restore job
    restore_run_id uuid REFERENCES etl_run (run_id),
    restored_newest date                 -- the newest month online when it was restored: kept
                                         -- online until the window moves past that month
);
CREATE UNIQUE INDEX IF NOT EXISTS etl_archive_offline_idx
    ON etl_archive (table_name, period) WHERE restored_at IS NULL;
