-- The statement triggers on product_month (product_month_triggers.sql) call this: the
-- statement's new rows are added to product_total and its old rows subtracted (TG_OP says
-- which images it has). A first or last time is moved by the added rows; when a removed row
-- held it and no added row reaches it, it is read again from the product's product_month rows
-- (the index on (product_id, month): some thirty rows). A product whose lines are all gone
-- keeps its row (lines 0, no times), with its customers, until summarize_cart() deletes it at
-- its end: a month recomputed whole is deleted before it is inserted again.
CREATE FUNCTION add_to_product_total() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        CREATE TEMPORARY TABLE month_image ON COMMIT DROP AS
        SELECT 1 AS sign, * FROM added_months;
    ELSIF TG_OP = 'DELETE' THEN
        CREATE TEMPORARY TABLE month_image ON COMMIT DROP AS
        SELECT -1 AS sign, * FROM removed_months;
    ELSE
        CREATE TEMPORARY TABLE month_image ON COMMIT DROP AS
        SELECT 1 AS sign, * FROM added_months
        UNION ALL
        SELECT -1, * FROM removed_months;
    END IF;
    CREATE TEMPORARY TABLE total_change ON COMMIT DROP AS
    SELECT product_id, sum(sign * lines) AS lines, sum(sign * removed_lines) AS removed_lines,
           sum(sign * sales) AS sales, sum(sign * quantity) AS quantity,
           sum(sign * revenue) AS revenue, sum(sign * sales_after_creation) AS sales_after,
           sum(sign * seconds_after_creation) AS seconds_after,
           min(first_line_at) FILTER (WHERE sign > 0) AS added_first_line,
           min(first_line_at) FILTER (WHERE sign < 0) AS removed_first_line,
           max(last_sale_at) FILTER (WHERE sign > 0) AS added_last_sale,
           max(last_sale_at) FILTER (WHERE sign < 0) AS removed_last_sale,
           min(first_sale_after_creation) FILTER (WHERE sign > 0) AS added_first_after,
           min(first_sale_after_creation) FILTER (WHERE sign < 0) AS removed_first_after
    FROM month_image
    GROUP BY product_id;
    DROP TABLE month_image;
    ANALYZE total_change;
    -- (a removed row can only hold the total's time, never pass it: <= is =)
    CREATE TEMPORARY TABLE total_recounted ON COMMIT DROP AS
    SELECT k.product_id
    FROM total_change k
    JOIN product_total t ON t.product_id = k.product_id
    WHERE (k.removed_first_line <= t.first_line_at
           AND COALESCE(k.added_first_line > t.first_line_at, true))
       OR (k.removed_last_sale >= t.last_sale_at
           AND COALESCE(k.added_last_sale < t.last_sale_at, true))
       OR (k.removed_first_after <= t.first_sale_after_creation
           AND COALESCE(k.added_first_after > t.first_sale_after_creation, true));
    UPDATE product_total t
    SET lines = t.lines + k.lines, removed_lines = t.removed_lines + k.removed_lines,
        sales = t.sales + k.sales, quantity = t.quantity + k.quantity,
        revenue = t.revenue + k.revenue,
        sales_after_creation = t.sales_after_creation + k.sales_after,
        seconds_after_creation = t.seconds_after_creation + k.seconds_after,
        first_line_at = LEAST(t.first_line_at, k.added_first_line),  -- LEAST skips a NULL
        last_sale_at = GREATEST(t.last_sale_at, k.added_last_sale),
        first_sale_after_creation = LEAST(t.first_sale_after_creation, k.added_first_after)
    FROM total_change k
    WHERE t.product_id = k.product_id;
    INSERT INTO product_total
    SELECT k.product_id, k.lines, k.removed_lines, k.sales, k.quantity, k.revenue,
           k.added_first_line, k.added_last_sale, k.sales_after, k.added_first_after,
           k.seconds_after
    FROM total_change k
    WHERE k.lines > 0
      AND NOT EXISTS (SELECT 1 FROM product_total t WHERE t.product_id = k.product_id);
    -- (a join, not a subquery per product: many products are read in one pass; and none,
    -- when a product has no month left, the times NULL until a later statement adds some)
    UPDATE product_total t
    SET first_line_at = m.first_line_at, last_sale_at = m.last_sale_at,
        first_sale_after_creation = m.first_sale_after_creation
    FROM (SELECT k.product_id, min(m.first_line_at) AS first_line_at,
                 max(m.last_sale_at) AS last_sale_at,
                 min(m.first_sale_after_creation) AS first_sale_after_creation
          FROM total_recounted k
          LEFT JOIN product_month m ON m.product_id = k.product_id
          GROUP BY k.product_id) m
    WHERE t.product_id = m.product_id;
    DROP TABLE total_change, total_recounted;
    RETURN NULL;
END
$$;
