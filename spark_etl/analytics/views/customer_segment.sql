-- cohort_year: year of the customer's created_at. value_tier: quartile of lifetime revenue
-- among customers with a sale (Q1 lowest .. Q4 highest; ties broken by customer id),
-- 'none' for customers without one.
CREATE MATERIALIZED VIEW customer_segment AS
WITH lifetime AS (
    SELECT customer_id, sum(revenue) AS revenue FROM purchase GROUP BY customer_id
)
SELECT c.customer_id,
       CAST(extract(year FROM c.created_at) AS integer) AS cohort_year,
       CASE WHEN l.customer_id IS NULL THEN 'none'
            ELSE 'Q' || ntile(4) OVER (PARTITION BY l.customer_id IS NULL
                                       ORDER BY l.revenue, c.customer_id) END AS value_tier,
       COALESCE(l.revenue, 0) AS lifetime_revenue
FROM customer c
LEFT JOIN lifetime l ON l.customer_id = c.customer_id
WITH NO DATA;
CREATE UNIQUE INDEX customer_segment_key ON customer_segment (customer_id);
CALL store_twice('customer_segment');
