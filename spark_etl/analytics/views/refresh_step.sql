-- How long each step of the last refresh took (the cart summaries, each answer kept per key,
-- each materialized view): the next refresh starts first the steps heading the longest chains
-- of work (spark_etl/analytics/scheduler.py), and an operator reads here where a refresh goes.
CREATE TABLE refresh_step (
    name text PRIMARY KEY,
    seconds double precision NOT NULL,
    refreshed_at timestamptz NOT NULL
);
