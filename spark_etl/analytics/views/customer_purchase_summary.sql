-- 3. How much does each customer buy per purchase?
CREATE MATERIALIZED VIEW customer_purchase_summary AS
SELECT customer_id, count(*) AS purchases, sum(cart_size) AS quantity,
       sum(revenue) AS revenue, round(avg(cart_size), 2) AS avg_quantity_per_purchase,
       min(first_sale_at) AS first_purchase_at, max(last_sale_at) AS last_purchase_at,
       round(avg(revenue), 2) AS avg_basket_value,
       -- what a year of this customer is worth: revenue of the 365 days up to the last purchase
       sum(revenue) FILTER (WHERE purchase_day > last_day - 365) AS revenue_last_active_year
FROM (SELECT *, max(purchase_day) OVER (PARTITION BY customer_id) AS last_day FROM purchase) p
GROUP BY customer_id
WITH NO DATA;
CREATE UNIQUE INDEX customer_purchase_summary_key ON customer_purchase_summary (customer_id);
-- the order question 3 shows it in: its first page without sorting every customer
CREATE INDEX customer_purchase_summary_by_revenue
    ON customer_purchase_summary (revenue DESC, customer_id);
CALL store_twice('customer_purchase_summary');
