-- 4. Seasonality. A calendar month's figures are averaged over the years in which it was
-- observed: the months of monthly_kpi (for a family, those of family_sales_monthly, from its
-- launch), a month without sales counting as zero. Data from 2023-01 to 2024-03 thus averages
-- January over two years and April over one, and a family launched in July gets no zeros for
-- the months before. index_vs_average = the month's average revenue / the mean of the
-- months' averages (1.0 = an average month); quantity_index likewise for quantity.

-- 4a. All products together: a plain view over monthly_kpi (one row per month).
CREATE VIEW seasonality AS
WITH per_month AS (
    SELECT CAST(date_part('month', month) AS integer) AS month_of_year,
           count(*) AS years_observed, CAST(sum(quantity) AS bigint) AS quantity,
           sum(revenue) AS revenue, CAST(sum(quantity) AS numeric) / count(*) AS avg_quantity,
           sum(revenue) / count(*) AS avg_revenue
    FROM monthly_kpi
    GROUP BY 1
)
SELECT month_of_year, (month_of_year - 1) / 3 + 1 AS quarter, years_observed, quantity, revenue,
       round(avg_revenue / NULLIF(avg(avg_revenue) OVER (), 0), 4) AS index_vs_average,
       round(avg_quantity / NULLIF(avg(avg_quantity) OVER (), 0), 4) AS quantity_index
FROM per_month;
