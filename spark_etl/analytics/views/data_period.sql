-- The period the sales cover: from the first sale to the last (a few index probes of cart),
-- and its first and last months. A month is partial when the data starts after its first day
-- or ends before its last. The views cover what is online: the months the retention job
-- archived (and that were not restored) are not in them, and are counted here.
CREATE MATERIALIZED VIEW data_period AS
SELECT first_sale_at, last_sale_at,
       CAST(date_trunc('month', first_sale_at) AS date) AS first_month,
       CAST(date_trunc('month', last_sale_at) AS date) AS last_month,
       a.archived_months, a.first_archived_month, a.last_archived_month, a.archived_on
FROM (SELECT min(created_at) AS first_sale_at, max(created_at) AS last_sale_at
      FROM cart WHERE deleted_at IS NULL) s
CROSS JOIN (SELECT count(*) AS archived_months, min(period) AS first_archived_month,
                   max(period) AS last_archived_month, max(archived_at) AS archived_on
            FROM etl_archive WHERE table_name = 'cart' AND restored_at IS NULL) a
WITH NO DATA;
CREATE UNIQUE INDEX data_period_key ON data_period (first_sale_at);
CALL store_twice('data_period');
