-- 12b. The averages of question 12 over the products created inside the period the sales
-- cover: a product created before the first sale of the data measures when the data starts,
-- not how long the product took to sell.
CREATE VIEW time_to_purchase_summary AS
WITH period AS (
    SELECT first_sale_at AS period_start, last_sale_at AS period_end FROM data_period
)
SELECT p.period_start, p.period_end, count(t.product_id) AS products_created_in_period,
       count(t.first_sale_at) AS products_sold,
       round(avg(t.days_to_first_sale), 2) AS avg_days_to_first_sale,
       round(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.days_to_first_sale) AS numeric), 2)
           AS median_days_to_first_sale
FROM period p
LEFT JOIN time_to_purchase t ON t.created_at BETWEEN p.period_start AND p.period_end
GROUP BY p.period_start, p.period_end;
