-- 3. How much does each customer buy per purchase?
--
-- Kept per customer rather than recomputed (500,000 customers' 7M purchases at 10M lines,
-- 10-12 s): keep_customer_purchases() rewrites the customers whose purchases changed.
CREATE TABLE customer_purchase_row (
    customer_id bigint NOT NULL,
    purchases bigint NOT NULL,
    quantity numeric NOT NULL,
    revenue numeric NOT NULL,
    avg_quantity_per_purchase numeric NOT NULL,
    first_purchase_at timestamp NOT NULL,
    last_purchase_at timestamp NOT NULL,
    avg_basket_value numeric NOT NULL,
    -- what a year of this customer is worth: revenue of the 365 days up to the last purchase
    revenue_last_active_year numeric NOT NULL,
    -- the lines of its purchases: with purchases, quantity and revenue, what the averages per
    -- purchase by segment (avg_cart_size_by_segment) sum, rather than every purchase
    lines bigint NOT NULL
);
CREATE UNIQUE INDEX customer_purchase_row_key ON customer_purchase_row (customer_id);
-- the order question 3 shows it in: its first page without sorting every customer
CREATE INDEX customer_purchase_row_by_revenue ON customer_purchase_row (revenue DESC, customer_id);

CREATE VIEW customer_purchase_summary AS
SELECT customer_id, purchases, quantity, revenue, avg_quantity_per_purchase, first_purchase_at,
       last_purchase_at, avg_basket_value, revenue_last_active_year
FROM customer_purchase_row;

-- Bring customer_purchase_row up to date with purchase: the customers of the lines changed
-- (customer_changed), and those who bought in a month recomputed without a log of its lines
-- (sales_month_changed.unlogged: bought in it before, by the range of their purchases, or
-- now, by its partition of cart). Every customer when more than recompute_share of them would
-- be (NULL: never), on rebuild, or when nothing is kept yet. Returns the customers recomputed.
CREATE FUNCTION keep_customer_purchases(rebuild boolean, recompute_share numeric,
                                        OUT customers_recomputed bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
DECLARE
    kept bigint := (SELECT count(*) FROM customer_purchase_row);
    every boolean := rebuild OR kept = 0;
    indexes text[];
BEGIN
    IF NOT every THEN
        CREATE TEMPORARY TABLE customer_dirty ON COMMIT DROP AS
        SELECT customer_id FROM customer_changed
        UNION
        SELECT r.customer_id
        FROM customer_purchase_row r
        JOIN sales_month_changed m
          ON m.unlogged AND r.first_purchase_at < m.month + interval '1 month'
         AND r.last_purchase_at >= m.month
        UNION
        SELECT c.customer_id
        FROM sales_month_changed m
        CROSS JOIN LATERAL (SELECT customer_id FROM cart
                            WHERE created_at >= m.month
                              AND created_at < m.month + interval '1 month'
                              AND deleted_at IS NULL) c
        WHERE m.unlogged;
        customers_recomputed := (SELECT count(*) FROM customer_dirty);
        every := COALESCE(customers_recomputed > recompute_share * kept, false);
    END IF;
    IF every THEN
        -- every customer, in one pass over the purchases (readers wait for no refill but a
        -- rebuild's)
        IF rebuild OR kept = 0 THEN
            indexes := empty_for_refill('customer_purchase_row');
        ELSE
            DELETE FROM customer_purchase_row;
        END IF;
        INSERT INTO customer_purchase_row
        SELECT customer_id, count(*), sum(cart_size), sum(revenue), round(avg(cart_size), 2),
               min(first_sale_at), max(last_sale_at), round(avg(revenue), 2),
               sum(revenue) FILTER (WHERE purchase_day > last_day - 365), sum(lines)
        FROM (SELECT *, max(purchase_day) OVER (PARTITION BY customer_id) AS last_day
              FROM purchase) p
        GROUP BY customer_id
        ORDER BY customer_id;
        PERFORM build_indexes(COALESCE(indexes, '{}'));
        customers_recomputed := (SELECT count(*) FROM customer_purchase_row);
        RETURN;
    END IF;
    DELETE FROM customer_purchase_row r USING customer_dirty d WHERE r.customer_id = d.customer_id;
    -- customer by customer: its purchases by the index on purchase (customer_id, purchase_day)
    INSERT INTO customer_purchase_row
    SELECT d.customer_id, s.*
    FROM (SELECT customer_id FROM customer_dirty ORDER BY customer_id) d
    CROSS JOIN LATERAL (
        SELECT count(*) AS purchases, sum(p.cart_size), sum(p.revenue),
               round(avg(p.cart_size), 2), min(p.first_sale_at), max(p.last_sale_at),
               round(avg(p.revenue), 2),
               sum(p.revenue) FILTER (WHERE p.purchase_day > l.last_day - 365), sum(p.lines)
        FROM purchase p
        CROSS JOIN (SELECT max(purchase_day) AS last_day FROM purchase
                    WHERE customer_id = d.customer_id) l
        WHERE p.customer_id = d.customer_id) s
    WHERE s.purchases > 0;
END
$$;
