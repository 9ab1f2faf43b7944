-- 4c. Each year on its own: the month's revenue / the mean month of that year (over the
-- months of the year inside the data), so a year's shape can be compared with the average's.
CREATE VIEW seasonality_by_year AS
SELECT CAST(date_part('year', month) AS integer) AS year,
       CAST(date_part('month', month) AS integer) AS month_of_year, quantity, revenue,
       round(revenue / NULLIF(avg(revenue) OVER (PARTITION BY date_part('year', month)), 0), 4)
           AS index_vs_year_average
FROM monthly_kpi;
