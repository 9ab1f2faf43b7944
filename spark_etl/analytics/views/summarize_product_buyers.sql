-- summarize_cart()'s step for product_buyer, in its transaction: rebuilt from every sale when
-- a partition went or nothing was summarized yet (rebuilt); otherwise the sales of sale_delta
-- (the months that came, the other months' logged sales) are added.
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
    CREATE TEMPORARY TABLE buyer_change ON COMMIT DROP AS
    SELECT product_id, customer_id, sum(sign) AS sales
    FROM sale_delta
    GROUP BY 1, 2
    HAVING sum(sign) <> 0;
    INSERT INTO product_buyer AS t
    SELECT * FROM buyer_change
    ON CONFLICT (product_id, customer_id) DO UPDATE SET sales = t.sales + excluded.sales;
    DELETE FROM product_buyer t USING buyer_change k
    WHERE k.sales < 0  -- (only a pair that lost sales can have none left)
      AND t.product_id = k.product_id AND t.customer_id = k.customer_id AND t.sales = 0;
END
$$;
