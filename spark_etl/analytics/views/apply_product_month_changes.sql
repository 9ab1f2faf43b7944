-- summarize_cart()'s step for product_month: the logged lines of the months it does not
-- recompute whole (its temporary table line_change) added to their groups, as it does for
-- product_sales_month and purchase. A group whose first line, last sale or first sale after
-- its product's creation was removed (the net count of its lines, or sales, at that time fell)
-- has those read again from its lines of that month (the index on cart (product_id,
-- created_at)); a changed quantity keeps its line's time and reads nothing again.
CREATE FUNCTION apply_product_month_changes() RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
BEGIN
    CREATE TEMPORARY TABLE product_changed ON COMMIT DROP AS
    SELECT month, product_id, sum(lines) AS lines, sum(removed_lines) AS removed_lines,
           sum(sales) AS sales, sum(quantity) AS quantity, sum(revenue) AS revenue,
           sum(sales_after) AS sales_after, sum(seconds_after) AS seconds_after,
           min(created_at) FILTER (WHERE lines > 0) AS added_first_line,
           min(created_at) FILTER (WHERE lines < 0) AS removed_first_line,
           max(created_at) FILTER (WHERE sales > 0) AS added_last_sale,
           max(created_at) FILTER (WHERE sales < 0) AS removed_last_sale,
           min(created_at) FILTER (WHERE sales_after > 0) AS added_first_after,
           min(created_at) FILTER (WHERE sales_after < 0) AS removed_first_after
    FROM (SELECT l.month, l.product_id, l.created_at, sum(l.sign) AS lines,
                 COALESCE(sum(l.sign) FILTER (WHERE l.deleted_at IS NOT NULL), 0)
                     AS removed_lines,
                 COALESCE(sum(l.sign) FILTER (WHERE l.deleted_at IS NULL), 0) AS sales,
                 COALESCE(sum(l.sign * l.quantity) FILTER (WHERE l.deleted_at IS NULL), 0)
                     AS quantity,
                 COALESCE(sum(l.sign * l.amount) FILTER (WHERE l.deleted_at IS NULL), 0)
                     AS revenue,
                 COALESCE(sum(l.sign) FILTER (WHERE l.deleted_at IS NULL
                                                AND l.created_at >= p.created_at), 0)
                     AS sales_after,
                 COALESCE(sum(l.sign * extract(epoch FROM l.created_at - p.created_at))
                              FILTER (WHERE l.deleted_at IS NULL
                                        AND l.created_at >= p.created_at), 0)
                     AS seconds_after
          FROM line_change l
          JOIN product_summarized p ON p.product_id = l.product_id
          GROUP BY 1, 2, 3) per_time
    GROUP BY 1, 2;
    ANALYZE product_changed;
    CREATE TEMPORARY TABLE product_recounted ON COMMIT DROP AS
    SELECT k.month, k.product_id
    FROM product_changed k
    JOIN product_month t ON t.month = k.month AND t.product_id = k.product_id
    WHERE k.removed_first_line <= t.first_line_at
       OR k.removed_last_sale >= t.last_sale_at
       OR k.removed_first_after <= t.first_sale_after_creation;
    UPDATE product_month t
    SET lines = t.lines + k.lines, removed_lines = t.removed_lines + k.removed_lines,
        sales = t.sales + k.sales, quantity = t.quantity + k.quantity,
        revenue = t.revenue + k.revenue,
        sales_after_creation = t.sales_after_creation + k.sales_after,
        seconds_after_creation = t.seconds_after_creation + k.seconds_after,
        first_line_at = LEAST(t.first_line_at, k.added_first_line),  -- LEAST skips a NULL
        last_sale_at = GREATEST(t.last_sale_at, k.added_last_sale),
        first_sale_after_creation = LEAST(t.first_sale_after_creation, k.added_first_after)
    FROM product_changed k
    WHERE t.month = k.month AND t.product_id = k.product_id;
    INSERT INTO product_month
    SELECT k.month, k.product_id, k.lines, k.removed_lines, k.sales, k.quantity, k.revenue,
           k.added_first_line, k.added_last_sale, k.sales_after, k.added_first_after,
           k.seconds_after
    FROM product_changed k
    WHERE k.lines > 0
      AND NOT EXISTS (SELECT 1 FROM product_month t
                      WHERE t.month = k.month AND t.product_id = k.product_id);
    DELETE FROM product_month t USING product_changed k
    WHERE t.month = k.month AND t.product_id = k.product_id AND t.lines = 0;
    UPDATE product_month t
    SET first_line_at = (
            SELECT min(c.created_at) FROM cart c
            WHERE c.product_id = t.product_id
              AND c.created_at >= t.month AND c.created_at < t.month + interval '1 month'),
        last_sale_at = (
            SELECT max(c.created_at) FROM cart c
            WHERE c.product_id = t.product_id AND c.deleted_at IS NULL
              AND c.created_at >= t.month AND c.created_at < t.month + interval '1 month'),
        first_sale_after_creation = (
            SELECT min(c.created_at) FROM cart c
            WHERE c.product_id = t.product_id AND c.deleted_at IS NULL
              AND c.created_at >= GREATEST(t.month, p.created_at)
              AND c.created_at < t.month + interval '1 month')
    FROM product_recounted k, product_summarized p
    WHERE t.month = k.month AND t.product_id = k.product_id AND p.product_id = t.product_id;
END
$$;
