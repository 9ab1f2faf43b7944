-- Data quality per load run (docs/quality.md): the share of the rows read set aside for a rule,
-- its gate's thresholds, and the rows read against the history's band: the median of the
-- comparable earlier runs, widened by the row-count gate's warn share (else its fail share).
-- Read from the run audit (etl_run, etl_run_metric): a plain view, current whenever it is read.
-- Runs from before the gates existed (no extract recorded) are not in it.
CREATE VIEW data_quality_runs AS
SELECT r.job, r.started_at, r.extract, r.backfill, r.status, r.quality,
       r.rows_read, r.rows_rejected AS rows_set_aside,
       CAST(r.rows_rejected AS numeric) / nullif(r.rows_read, 0) AS set_aside_share,
       g.warn_at AS warn_set_aside_share, g.fail_at AS fail_set_aside_share,
       m.value AS rows_read_median,
       m.value * (1 - coalesce(c.warn_at, c.fail_at)) AS band_low,
       m.value * (1 + coalesce(c.warn_at, c.fail_at)) AS band_high,
       (SELECT string_agg(x.message, '; ' ORDER BY x.verdict, x.detail)
        FROM etl_run_metric x
        WHERE x.run_id = r.run_id AND x.metric = 'gate' AND x.verdict IN ('warn', 'fail'))
           AS gate_messages,
       r.run_id
FROM etl_run r
LEFT JOIN etl_run_metric g
       ON g.run_id = r.run_id AND g.metric = 'gate' AND g.detail = 'set_aside_share'
LEFT JOIN etl_run_metric m ON m.run_id = r.run_id AND m.metric = 'rows_read_median'
LEFT JOIN etl_run_metric c
       ON c.run_id = r.run_id AND c.metric = 'gate' AND c.detail = 'row_count_change'
WHERE r.extract IS NOT NULL AND r.status <> 'running';
