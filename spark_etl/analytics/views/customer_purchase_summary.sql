-- 3. How much does each customer buy per purchase?
--
-- Kept per customer rather than recomputed (500,000 customers' 7M purchases at 10M lines,
-- 10-12 s): keep_customer_purchases() rewrites the customers whose purchases changed.
CREATE TABLE customer_purchase_row (
    customer_id bigint PRIMARY KEY,
    purchases bigint NOT NULL,
    quantity numeric NOT NULL,
    revenue numeric NOT NULL,
    avg_quantity_per_purchase numeric NOT NULL,
    first_purchase_at timestamp NOT NULL,
    last_purchase_at timestamp NOT NULL,
    avg_basket_value numeric NOT NULL,
    -- what a year of this customer is worth: revenue of the 365 days up to the last purchase
    revenue_last_active_year numeric NOT NULL
);
-- the order question 3 shows it in: its first page without sorting every customer
CREATE INDEX customer_purchase_row_by_revenue ON customer_purchase_row (revenue DESC, customer_id);

CREATE VIEW customer_purchase_summary AS
SELECT customer_id, purchases, quantity, revenue, avg_quantity_per_purchase, first_purchase_at,
       last_purchase_at, avg_basket_value, revenue_last_active_year
FROM customer_purchase_row;

-- Bring customer_purchase_row up to date with purchase: the customers of the lines changed
-- (customer_changed), and those who bought in a month recomputed without a log of its lines
-- (sales_month_changed.unlogged: bought in it before, by the range of their purchases, or
-- now); rebuild, or nothing kept yet: every customer. Returns the customers recomputed.
CREATE FUNCTION keep_customer_purchases(rebuild boolean, OUT customers_recomputed bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
BEGIN
    IF rebuild OR NOT EXISTS (SELECT 1 FROM customer_purchase_row) THEN
        CREATE TEMPORARY TABLE customer_dirty ON COMMIT DROP AS
        SELECT customer_id FROM customer;
    ELSE
        CREATE TEMPORARY TABLE customer_dirty ON COMMIT DROP AS
        SELECT customer_id FROM customer_changed
        UNION
        SELECT r.customer_id
        FROM customer_purchase_row r
        JOIN sales_month_changed m
          ON m.unlogged AND r.first_purchase_at < m.month + interval '1 month'
         AND r.last_purchase_at >= m.month
        UNION
        SELECT p.customer_id
        FROM purchase p
        JOIN sales_month_changed m
          ON m.unlogged AND p.purchase_day >= m.month
         AND p.purchase_day < m.month + interval '1 month';
    END IF;
    ANALYZE customer_dirty;
    customers_recomputed := (SELECT count(*) FROM customer_dirty);
    DELETE FROM customer_purchase_row r USING customer_dirty d WHERE r.customer_id = d.customer_id;
    -- (a join the planner picks: index probes for a few customers, one pass for many)
    INSERT INTO customer_purchase_row
    SELECT customer_id, count(*), sum(cart_size), sum(revenue), round(avg(cart_size), 2),
           min(first_sale_at), max(last_sale_at), round(avg(revenue), 2),
           COALESCE(sum(revenue) FILTER (WHERE purchase_day > last_day - 365), 0)
    FROM (SELECT p.*, max(p.purchase_day) OVER (PARTITION BY p.customer_id) AS last_day
          FROM purchase p
          JOIN customer_dirty d ON d.customer_id = p.customer_id) p
    GROUP BY customer_id
    ORDER BY customer_id;
END
$$;
