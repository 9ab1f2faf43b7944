-- Why rows were set aside in the latest load run of each job: rows per reason (a row breaking
-- two rules counts for both), as a share of the rows read, ranked.
CREATE VIEW data_quality_reasons AS
SELECT l.job, l.started_at, m.detail AS reason, CAST(m.value AS bigint) AS rows_set_aside,
       m.value / nullif(l.rows_read, 0) AS share_of_rows_read,
       rank() OVER (PARTITION BY l.job ORDER BY m.value DESC, m.detail) AS reason_rank
FROM data_quality_latest l
JOIN etl_run_metric m ON m.run_id = l.run_id AND m.metric = 'reason_rows';
