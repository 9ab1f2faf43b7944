-- 4b. Per product family, from family_sales_monthly.
CREATE MATERIALIZED VIEW seasonality_by_family AS
WITH per_month AS (
    SELECT sku, CAST(date_part('month', month) AS integer) AS month_of_year,
           count(*) AS years_observed, CAST(sum(quantity) AS bigint) AS quantity,
           sum(revenue) AS revenue, CAST(sum(quantity) AS numeric) / count(*) AS avg_quantity,
           sum(revenue) / count(*) AS avg_revenue
    FROM family_sales_monthly
    GROUP BY 1, 2
)
SELECT sku, month_of_year, (month_of_year - 1) / 3 + 1 AS quarter, years_observed, quantity,
       revenue,
       round(avg_revenue / NULLIF(avg(avg_revenue) OVER (PARTITION BY sku), 0), 4)
           AS index_vs_average,
       round(avg_quantity / NULLIF(avg(avg_quantity) OVER (PARTITION BY sku), 0), 4)
           AS quantity_index
FROM per_month
WITH NO DATA;
CREATE UNIQUE INDEX seasonality_by_family_key ON seasonality_by_family (sku, month_of_year);
CALL store_twice('seasonality_by_family');
