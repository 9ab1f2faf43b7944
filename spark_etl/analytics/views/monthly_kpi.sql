-- 0. The business month by month (the key figures and their trend), every month of the period
-- present (zeros where nothing sold; months archived inside the period left out): revenue,
-- sales (cart lines sold), quantity, buying customers, purchases; basket value and size per
-- purchase; revenue against the month before and the same month a year before (ratio - 1;
-- NULL when there is nothing to compare with, an archived month included).
CREATE MATERIALIZED VIEW monthly_kpi AS
WITH per_month AS (
    SELECT CAST(date_trunc('month', purchase_day) AS date) AS month, sum(revenue) AS revenue,
           sum(lines) AS sales, sum(cart_size) AS quantity,
           count(DISTINCT customer_id) AS buying_customers, count(*) AS purchases
    FROM purchase
    GROUP BY 1
), months AS (
    SELECT CAST(m.month AS date) AS month, d.first_sale_at, d.last_sale_at
    FROM data_period d
    CROSS JOIN generate_series(d.first_month, d.last_month, interval '1 month') AS m (month)
    -- a month archived by the retention job between restored ones is absent, not a zero
    WHERE NOT EXISTS (SELECT 1 FROM etl_archive a WHERE a.table_name = 'cart'
                      AND a.restored_at IS NULL AND a.period = CAST(m.month AS date))
), filled AS (
    SELECT m.month,
           CAST(m.first_sale_at AS date) > m.month
               OR CAST(m.last_sale_at AS date)
                  < CAST(m.month + interval '1 month' - interval '1 day' AS date) AS partial,
           COALESCE(p.revenue, 0) AS revenue, COALESCE(p.sales, 0) AS sales,
           COALESCE(p.quantity, 0) AS quantity, COALESCE(p.buying_customers, 0) AS buying_customers,
           COALESCE(p.purchases, 0) AS purchases
    FROM months m
    LEFT JOIN per_month p ON p.month = m.month
)
SELECT f.month, f.partial, f.revenue, CAST(f.sales AS bigint) AS sales,
       CAST(f.quantity AS bigint) AS quantity, f.buying_customers, f.purchases,
       round(f.revenue / NULLIF(f.purchases, 0), 2) AS avg_basket_value,
       round(f.quantity / NULLIF(f.purchases, 0), 2) AS avg_basket_size,
       round(f.revenue / NULLIF(prev.revenue, 0) - 1, 4) AS revenue_change_mom,
       round(f.revenue / NULLIF(yb.revenue, 0) - 1, 4) AS revenue_change_yoy
FROM filled f
LEFT JOIN filled prev ON prev.month = f.month - interval '1 month'
LEFT JOIN filled yb ON yb.month = f.month - interval '12 months'
WITH NO DATA;
CREATE UNIQUE INDEX monthly_kpi_key ON monthly_kpi (month);
CALL store_twice('monthly_kpi');
