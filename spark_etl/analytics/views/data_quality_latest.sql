-- The latest load run of each job, with what its quality gates said (the report's first screen
-- warns when one of them warned or failed).
CREATE VIEW data_quality_latest AS
SELECT DISTINCT ON (job)
       job, started_at, extract, status, quality, rows_read, rows_set_aside, set_aside_share,
       gate_messages, run_id
FROM data_quality_runs
ORDER BY job, started_at DESC;
