-- summarize_cart()'s step for product_buyer, in its transaction (its temporary tables
-- taken_change and came_month): rebuilt from every sale when a partition went or nothing was
-- summarized yet (rebuilt); otherwise the sales of the months that came are added, and the
-- logged sales of the other months (a line of a month that came is already among its lines).
CREATE FUNCTION summarize_product_buyers(rebuilt boolean) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
BEGIN
    IF rebuilt THEN
        TRUNCATE product_buyer;
        INSERT INTO product_buyer
        SELECT product_id, customer_id, count(*)
        FROM cart
        WHERE deleted_at IS NULL
        GROUP BY 1, 2
        ORDER BY 1, 2;
        ANALYZE product_buyer;
        RETURN;
    END IF;
    INSERT INTO product_buyer AS t
    SELECT c.product_id, c.customer_id, count(*)
    FROM came_month m
    CROSS JOIN LATERAL (SELECT product_id, customer_id FROM cart
                        WHERE deleted_at IS NULL AND created_at >= m.month
                          AND created_at < m.month + interval '1 month') c
    GROUP BY 1, 2
    ON CONFLICT (product_id, customer_id) DO UPDATE SET sales = t.sales + excluded.sales;
    CREATE TEMPORARY TABLE buyer_change ON COMMIT DROP AS
    SELECT product_id, customer_id, sum(sign) AS sales
    FROM taken_change
    WHERE deleted_at IS NULL
      AND CAST(date_trunc('month', created_at) AS date) NOT IN (SELECT month FROM came_month)
    GROUP BY 1, 2
    HAVING sum(sign) <> 0;
    INSERT INTO product_buyer AS t
    SELECT * FROM buyer_change
    ON CONFLICT (product_id, customer_id) DO UPDATE SET sales = t.sales + excluded.sales;
    DELETE FROM product_buyer t USING buyer_change k
    WHERE t.product_id = k.product_id AND t.customer_id = k.customer_id AND t.sales = 0;
END
$$;
