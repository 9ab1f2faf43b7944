-- 0. The business month by month (the key figures and their trend), every month of the period
-- present (zeros where nothing sold; months archived inside the period left out): revenue,
-- sales (cart lines sold), quantity, buying customers, purchases; basket value and size per
-- purchase; revenue against the month before and the same month a year before (ratio - 1;
-- NULL when there is nothing to compare with, an archived month included).
--
-- Kept per month rather than recomputed (counting the distinct customers of every month read
-- all the purchases, 8-9 s at 10M lines): keep_monthly_kpi() rewrites the months whose sales
-- changed or that came, went or became whole or partial, and the months that compare with
-- them (a month and a year later).
CREATE TABLE monthly_kpi_row (
    month date PRIMARY KEY,
    partial boolean NOT NULL,
    revenue numeric NOT NULL,
    sales bigint NOT NULL,
    quantity bigint NOT NULL,
    buying_customers bigint NOT NULL,
    purchases bigint NOT NULL,
    avg_basket_value numeric,
    avg_basket_size numeric,
    revenue_change_mom numeric,
    revenue_change_yoy numeric
);

CREATE VIEW monthly_kpi AS
SELECT month, partial, revenue, sales, quantity, buying_customers, purchases, avg_basket_value,
       avg_basket_size, revenue_change_mom, revenue_change_yoy
FROM monthly_kpi_row;

-- Bring monthly_kpi_row up to date with purchase (the months sales_month_changed lists), the
-- period (data_period) and the archived months; rebuild: every month recomputed (the months'
-- sums are read by month whatever their share: recompute_share is not needed). Returns the
-- months recomputed and the rows written.
CREATE FUNCTION keep_monthly_kpi(rebuild boolean, recompute_share numeric,
                                 OUT months_recomputed bigint, OUT rows_written bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
BEGIN
    -- the months of the period now (a month archived by the retention job between restored
    -- ones is absent, not a zero) and whether the data covers them only in part
    CREATE TEMPORARY TABLE kpi_month_now ON COMMIT DROP AS
    SELECT CAST(m.month AS date) AS month,
           CAST(d.first_sale_at AS date) > m.month
               OR CAST(d.last_sale_at AS date)
                  < CAST(m.month + interval '1 month' - interval '1 day' AS date) AS partial
    FROM data_period d
    CROSS JOIN generate_series(CAST(d.first_month AS timestamp), CAST(d.last_month AS timestamp),
                               interval '1 month') AS m (month)
    WHERE NOT EXISTS (SELECT 1 FROM etl_archive a WHERE a.table_name = 'cart'
                      AND a.restored_at IS NULL AND a.period = CAST(m.month AS date));
    -- recomputed: the months whose sales changed, and those that came, went or became whole
    -- or partial
    CREATE TEMPORARY TABLE kpi_month_dirty ON COMMIT DROP AS
    SELECT month FROM sales_month_changed WHERE NOT rebuild
    UNION
    SELECT COALESCE(n.month, k.month)
    FROM kpi_month_now n
    FULL JOIN monthly_kpi_row k ON k.month = n.month
    WHERE rebuild OR n.month IS NULL OR k.month IS NULL OR n.partial <> k.partial;
    months_recomputed := (SELECT count(*) FROM kpi_month_dirty);
    -- their sums from the purchases (those of the dirty months only: between the first and the
    -- last of them, then by month)
    CREATE TEMPORARY TABLE kpi_base ON COMMIT DROP AS
    WITH per_month AS (
        SELECT CAST(date_trunc('month', purchase_day) AS date) AS month, sum(revenue) AS revenue,
               sum(lines) AS sales, sum(cart_size) AS quantity,
               count(DISTINCT customer_id) AS buying_customers, count(*) AS purchases
        FROM purchase
        WHERE purchase_day >= (SELECT min(month) FROM kpi_month_dirty)
          AND purchase_day < (SELECT max(month) + interval '1 month' FROM kpi_month_dirty)
          AND CAST(date_trunc('month', purchase_day) AS date) IN (SELECT month FROM kpi_month_dirty)
        GROUP BY 1
    )
    SELECT n.month, n.partial, COALESCE(p.revenue, 0) AS revenue,
           CAST(COALESCE(p.sales, 0) AS bigint) AS sales,
           CAST(COALESCE(p.quantity, 0) AS bigint) AS quantity,
           COALESCE(p.buying_customers, 0) AS buying_customers,
           COALESCE(p.purchases, 0) AS purchases
    FROM kpi_month_now n
    LEFT JOIN per_month p ON p.month = n.month
    WHERE n.month IN (SELECT month FROM kpi_month_dirty);
    -- and the months that compare with them, a month and a year later, as stored
    CREATE TEMPORARY TABLE kpi_target ON COMMIT DROP AS
    SELECT month, partial, revenue, sales, quantity, buying_customers, purchases FROM kpi_base
    UNION ALL
    SELECT month, partial, revenue, sales, quantity, buying_customers, purchases
    FROM monthly_kpi_row k
    WHERE k.month IN (SELECT CAST(d.month + step.after AS date)
                      FROM kpi_month_dirty d
                      CROSS JOIN (VALUES (interval '1 month'), (interval '12 months'))
                          AS step (after))
      AND k.month NOT IN (SELECT month FROM kpi_month_dirty);
    CREATE TEMPORARY TABLE kpi_written ON COMMIT DROP AS
    WITH compared AS (
        SELECT month, revenue FROM kpi_base
        UNION ALL
        SELECT month, revenue FROM monthly_kpi_row
        WHERE month NOT IN (SELECT month FROM kpi_month_dirty)
    )
    SELECT t.month, t.partial, t.revenue, t.sales, t.quantity, t.buying_customers, t.purchases,
           round(t.revenue / NULLIF(t.purchases, 0), 2) AS avg_basket_value,
           round(CAST(t.quantity AS numeric) / NULLIF(t.purchases, 0), 2) AS avg_basket_size,
           round(t.revenue / NULLIF(prev.revenue, 0) - 1, 4) AS revenue_change_mom,
           round(t.revenue / NULLIF(year_before.revenue, 0) - 1, 4) AS revenue_change_yoy
    FROM kpi_target t
    LEFT JOIN compared prev ON prev.month = CAST(t.month - interval '1 month' AS date)
    LEFT JOIN compared year_before
      ON year_before.month = CAST(t.month - interval '12 months' AS date);
    DELETE FROM monthly_kpi_row
    WHERE month IN (SELECT month FROM kpi_month_dirty UNION ALL SELECT month FROM kpi_target);
    INSERT INTO monthly_kpi_row SELECT * FROM kpi_written ORDER BY month;
    rows_written := (SELECT count(*) FROM kpi_written);
END
$$;
