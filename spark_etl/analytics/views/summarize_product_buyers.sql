-- summarize_cart()'s step for product_buyer, in its transaction: rebuilt from every sale when
-- a partition went or nothing was summarized yet (rebuilt); otherwise the sales of sale_delta
-- (the months that came, the other months' logged sales) are added. product_total's customers
-- count each product's pairs: moved by the pairs that came or went, or counted again after a
-- rebuild, or when product_total was refilled (recount_customers).
CREATE FUNCTION summarize_product_buyers(rebuilt boolean, recount_customers boolean)
RETURNS void
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
    ELSE
        CREATE TEMPORARY TABLE buyer_change ON COMMIT DROP AS
        SELECT k.product_id, k.customer_id, k.sales,
               NOT EXISTS (SELECT 1 FROM product_buyer b
                           WHERE b.product_id = k.product_id AND b.customer_id = k.customer_id)
                   AS came
        FROM (SELECT product_id, customer_id, sum(sign) AS sales
              FROM sale_delta
              GROUP BY 1, 2
              HAVING sum(sign) <> 0) k;
        INSERT INTO product_buyer AS t
        SELECT product_id, customer_id, sales FROM buyer_change
        ON CONFLICT (product_id, customer_id) DO UPDATE SET sales = t.sales + excluded.sales;
        CREATE TEMPORARY TABLE buyer_gone ON COMMIT DROP AS
        WITH gone AS (
            DELETE FROM product_buyer t USING buyer_change k
            WHERE k.sales < 0  -- (only a pair that lost sales can have none left)
              AND t.product_id = k.product_id AND t.customer_id = k.customer_id
              AND t.sales = 0
            RETURNING t.product_id
        ) SELECT * FROM gone;
        IF NOT recount_customers THEN
            UPDATE product_total t SET customers = t.customers + c.change
            FROM (SELECT product_id, sum(change) AS change
                  FROM (SELECT product_id, 1 AS change FROM buyer_change WHERE came
                        UNION ALL
                        SELECT product_id, -1 FROM buyer_gone) c
                  GROUP BY 1) c
            WHERE t.product_id = c.product_id AND c.change <> 0;
            RETURN;
        END IF;
    END IF;
    UPDATE product_total SET customers = 0 WHERE customers <> 0;
    UPDATE product_total t SET customers = b.customers
    FROM (SELECT product_id, count(*) AS customers FROM product_buyer GROUP BY 1) b
    WHERE t.product_id = b.product_id;
END
$$;
