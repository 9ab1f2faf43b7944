-- 5. Who buys most often? Ranked by purchases, then quantity, then revenue.
CREATE MATERIALIZED VIEW most_active_customers AS
SELECT s.customer_id, c.name, s.purchases, s.quantity, s.revenue,
       rank() OVER (ORDER BY s.purchases DESC, s.quantity DESC, s.revenue DESC) AS rank
FROM customer_purchase_summary s
JOIN customer c ON c.customer_id = s.customer_id
WITH NO DATA;
CREATE UNIQUE INDEX most_active_customers_key ON most_active_customers (customer_id);
CREATE INDEX most_active_customers_rank ON most_active_customers (rank);
CALL store_twice('most_active_customers');
