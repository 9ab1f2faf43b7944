-- 2b. Each product family (product.sku) month by month, from its launch (its first product's
-- creation, or the data's first month if later; or its first sale where a sale predates the
-- launch) to the data's last month, months without sales as zeros; partial as in monthly_kpi;
-- revenue against the month before and the same month a year before (ratio - 1), left out
-- (NULL) when that month is partial: the data's first or last month, or the family's launch
-- month when it launched after the month's first day (a growth against a few days of sales
-- would read +2,600%);
-- family_rank by revenue over the whole period (1 = the largest family), so that a chart can
-- take the leading families without reading them all.
CREATE MATERIALIZED VIEW family_sales_monthly AS
WITH monthly AS (
    SELECT p.sku, s.month, sum(s.quantity) AS quantity, sum(s.revenue) AS revenue
    FROM product_sales_monthly s
    JOIN product p ON p.product_id = s.product_id
    GROUP BY 1, 2
), family AS (
    SELECT p.sku, min(p.created_at) AS launched_at,
           LEAST(min(first_sale.month),
                 GREATEST(d.first_month, date_trunc('month', min(p.created_at)))) AS first_month,
           d.last_month
    FROM product p
    JOIN (SELECT sku, min(month) AS month FROM monthly GROUP BY sku) first_sale
      ON first_sale.sku = p.sku
    CROSS JOIN data_period d
    GROUP BY p.sku, d.first_month, d.last_month
), filled AS (
    SELECT f.sku, CAST(m.month AS date) AS month, k.partial,
           k.partial OR (m.month = f.first_month AND f.launched_at > m.month) AS short,
           CAST(COALESCE(monthly.quantity, 0) AS bigint) AS quantity,
           COALESCE(monthly.revenue, 0) AS revenue
    FROM family f
    CROSS JOIN generate_series(f.first_month, f.last_month, interval '1 month') AS m (month)
    JOIN monthly_kpi k ON k.month = m.month
    LEFT JOIN monthly ON monthly.sku = f.sku AND monthly.month = m.month
), ranked AS (
    -- the families ranked once (a row each), not the rows of all their months
    SELECT sku, dense_rank() OVER (ORDER BY sum(revenue) DESC, sku) AS family_rank
    FROM filled
    GROUP BY sku
)
SELECT f.sku, f.month, f.partial, f.quantity, f.revenue,
       CASE WHEN NOT lag(f.short) OVER w
            THEN round(f.revenue / NULLIF(lag(f.revenue) OVER w, 0) - 1, 4) END
           AS revenue_change_mom,
       CASE WHEN NOT lag(f.short, 12) OVER w
            THEN round(f.revenue / NULLIF(lag(f.revenue, 12) OVER w, 0) - 1, 4) END
           AS revenue_change_yoy,
       r.family_rank
FROM filled f
JOIN ranked r ON r.sku = f.sku
WINDOW w AS (PARTITION BY f.sku ORDER BY f.month)
WITH NO DATA;
CREATE UNIQUE INDEX family_sales_monthly_key ON family_sales_monthly (sku, month);
CREATE INDEX family_sales_monthly_rank ON family_sales_monthly (family_rank, month);
CALL store_twice('family_sales_monthly');
