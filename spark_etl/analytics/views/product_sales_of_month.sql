-- 2. How do products and their variations sell month by month? Kept up to date by
-- summarize_cart() (below): sums of the lines changed are added to their months, so
-- product_sales_month also counts each group's sales (a group whose count falls to zero is
-- removed). Computed month by month when a month is (re)built, like purchase.
CREATE FUNCTION product_sales_of_month(month_start timestamp)
RETURNS TABLE (month date, product_id bigint, product_variation_id bigint, quantity bigint,
               revenue numeric, sales bigint)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
AS $$
    SELECT CAST(month_start AS date), min(product_id), product_variation_id, sum(quantity),
           sum(amount), count(*)
    FROM cart
    WHERE deleted_at IS NULL
      AND created_at >= month_start AND created_at < month_start + interval '1 month'
    GROUP BY product_variation_id  -- a variation is one product's
    ORDER BY product_variation_id  -- the table is then stored in the order of its key
$$;
