-- Bring the cart summaries (purchase, product_sales_month, product_month, product_buyer, the
-- customers' segments and the sales per segment) up to date with cart; returns the months recomputed whole, the changed sales applied and the
-- purchases recounted from their lines. Call it in a REPEATABLE READ transaction. A month whose
-- logged sales (before and after images) outnumber recompute_share of the sales it held is
-- recomputed whole too: reading a month costs about what applying a sixth of its lines one
-- purchase at a time does (a history loaded in several extracts into the same months).
-- NULL: never.
CREATE FUNCTION summarize_cart(recompute_share numeric, OUT months_recomputed bigint,
                               OUT lines_applied bigint, OUT purchases_recounted bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
DECLARE
    index_definitions text[];
    drop_indexes text;
    definition text;
    rebuilt boolean;
BEGIN
    CREATE TEMPORARY TABLE taken_change ON COMMIT DROP AS
    WITH taken AS (DELETE FROM cart_change RETURNING *) SELECT * FROM taken;
    -- counted for the planner: without statistics it expects a few rows and compares each
    -- line with every online month in a nested loop
    ANALYZE taken_change;
    CREATE TEMPORARY TABLE range_now ON COMMIT DROP AS SELECT * FROM cart_ranges();
    -- the sums over every month (product_buyer, customer_summarized, cohort_variation,
    -- tier_variation) cannot subtract the lines of a partition that went (they are gone): they
    -- are rebuilt from every line then, and when nothing was summarized yet (first build,
    -- TRUNCATE)
    rebuilt := NOT EXISTS (SELECT 1 FROM cart_range_summarized)
        OR EXISTS (SELECT 1 FROM cart_range_summarized s
                   WHERE NOT EXISTS (SELECT 1 FROM range_now n WHERE n.partition = s.partition));
    -- the months of partitions new since the last refresh: the sums over every month add
    -- their lines
    CREATE TEMPORARY TABLE came_month ON COMMIT DROP AS
    SELECT DISTINCT CAST(m.month AS date) AS month
    FROM range_now n
    CROSS JOIN generate_series(date_trunc('month', n.range_from),
                               n.range_to - interval '1 microsecond', interval '1 month')
        AS m (month)
    WHERE NOT EXISTS (SELECT 1 FROM cart_range_summarized s WHERE s.partition = n.partition);
    -- products whose created_at changed: their *_after_creation sums are computed again below
    CREATE TEMPORARY TABLE product_moved ON COMMIT DROP AS
    SELECT p.product_id
    FROM product p JOIN product_summarized s ON s.product_id = p.product_id
    WHERE s.created_at <> p.created_at;
    UPDATE product_summarized s SET created_at = p.created_at
    FROM product p
    WHERE p.product_id = s.product_id AND s.created_at <> p.created_at;
    INSERT INTO product_summarized
    SELECT p.product_id, p.created_at FROM product p
    WHERE NOT EXISTS (SELECT 1 FROM product_summarized s WHERE s.product_id = p.product_id);
    DELETE FROM product_summarized s
    WHERE NOT EXISTS (SELECT 1 FROM product p WHERE p.product_id = s.product_id);
    -- the months of partitions that came or went since the last refresh: recomputed whole
    CREATE TEMPORARY TABLE stale_month ON COMMIT DROP AS
    SELECT DISTINCT CAST(m.month AS date) AS month
    FROM (SELECT n.range_from, n.range_to FROM range_now n
          WHERE NOT EXISTS (SELECT 1 FROM cart_range_summarized s WHERE s.partition = n.partition)
          UNION ALL
          SELECT s.range_from, s.range_to FROM cart_range_summarized s
          WHERE NOT EXISTS (SELECT 1 FROM range_now n WHERE n.partition = s.partition)) r
    CROSS JOIN generate_series(date_trunc('month', r.range_from),
                               r.range_to - interval '1 microsecond', interval '1 month')
        AS m (month);
    -- (their changed lines are not logged: what read the purchases of those months reads them
    -- all again)
    CREATE TEMPORARY TABLE unlogged_month ON COMMIT DROP AS SELECT month FROM stale_month;
    INSERT INTO stale_month
    SELECT c.month
    FROM (SELECT CAST(date_trunc('month', created_at) AS date) AS month, count(*) AS changed
          FROM taken_change
          WHERE deleted_at IS NULL
          GROUP BY 1) c
    WHERE c.changed > recompute_share * (SELECT COALESCE(sum(s.sales), 0)
                                         FROM product_sales_month s WHERE s.month = c.month)
      AND c.month NOT IN (SELECT month FROM stale_month);
    months_recomputed := (SELECT count(*) FROM stale_month);
    IF months_recomputed > 0 THEN
        -- (a month has purchases when it has sales: product_sales_month's months are both's)
        IF NOT EXISTS (SELECT 1 FROM product_sales_month
                       WHERE month NOT IN (SELECT month FROM stale_month))
           AND NOT EXISTS (SELECT 1 FROM product_month
                           WHERE month NOT IN (SELECT month FROM stale_month)) THEN
            -- refilled whole (the first build, a rebuild): emptied by TRUNCATE (new files,
            -- which wal_level = minimal then fills without logging every row), and the indexes
            -- dropped and built once after the rows (a fifth faster than row by row)
            TRUNCATE purchase, product_sales_month, product_month;
            SELECT array_agg(indexdef),
                   'DROP INDEX ' || string_agg(quote_ident(schemaname) || '.'
                                               || quote_ident(indexname), ', ')
            INTO index_definitions, drop_indexes
            FROM pg_indexes
            WHERE schemaname = current_schema()
              AND tablename IN ('purchase', 'product_sales_month', 'product_month');
            EXECUTE drop_indexes;
        ELSE
            -- (between the first and the last stale month first: a comparison of dates per
            -- purchase, not its month computed, over every purchase)
            DELETE FROM purchase
            WHERE purchase_day >= (SELECT min(month) FROM stale_month)
              AND purchase_day < (SELECT max(month) + interval '1 month' FROM stale_month)
              AND CAST(date_trunc('month', purchase_day) AS date) IN (SELECT month FROM stale_month);
            DELETE FROM product_sales_month WHERE month IN (SELECT month FROM stale_month);
            DELETE FROM product_month WHERE month IN (SELECT month FROM stale_month);
        END IF;
        -- in customer order: the index builds from sorted rows, and the views aggregating
        -- purchases per customer find each customer's purchases together
        INSERT INTO purchase
        SELECT p.* FROM stale_month s CROSS JOIN LATERAL purchase_of_month(s.month) p
        ORDER BY p.customer_id, p.purchase_day;
        INSERT INTO product_sales_month
        SELECT p.* FROM stale_month s CROSS JOIN LATERAL product_sales_of_month(s.month) p;
        INSERT INTO product_month
        SELECT p.* FROM stale_month s CROSS JOIN LATERAL product_month_of(s.month) p;
        FOREACH definition IN ARRAY COALESCE(index_definitions, '{}') LOOP
            EXECUTE definition;
        END LOOP;
        DELETE FROM cart_range_summarized s
        WHERE NOT EXISTS (SELECT 1 FROM range_now n WHERE n.partition = s.partition);
        INSERT INTO cart_range_summarized
        SELECT * FROM range_now n
        WHERE NOT EXISTS (SELECT 1 FROM cart_range_summarized s WHERE s.partition = n.partition);
    END IF;
    -- the logged lines of the other months that are online: added to their groups, and their
    -- purchases recomputed (a line whose partition has gone since is in a stale month)
    CREATE TEMPORARY TABLE line_change ON COMMIT DROP AS
    SELECT t.*, CAST(date_trunc('month', t.created_at) AS date) AS month
    FROM taken_change t
    WHERE CAST(date_trunc('month', t.created_at) AS date) IN (
          SELECT CAST(m.month AS date)
          FROM range_now n
          CROSS JOIN generate_series(date_trunc('month', n.range_from),
                                     n.range_to - interval '1 microsecond', interval '1 month')
              AS m (month)
          EXCEPT
          SELECT month FROM stale_month);
    CREATE TEMPORARY TABLE sale_change ON COMMIT DROP AS
    SELECT * FROM line_change WHERE deleted_at IS NULL;
    lines_applied := (SELECT count(*) FROM sale_change);
    purchases_recounted := 0;
    IF lines_applied > 0 THEN
        ANALYZE sale_change;
        INSERT INTO product_sales_month AS t
        SELECT month, min(product_id), product_variation_id, sum(sign * quantity),
               sum(sign * amount), sum(sign)
        FROM sale_change
        GROUP BY month, product_variation_id
        ON CONFLICT (month, product_variation_id) DO UPDATE
        SET quantity = t.quantity + excluded.quantity, revenue = t.revenue + excluded.revenue,
            sales = t.sales + excluded.sales;
        DELETE FROM product_sales_month t USING sale_change c
        WHERE t.month = c.month AND t.product_variation_id = c.product_variation_id
          AND t.sales = 0;
        -- purchases: their sums moved by the logged lines' (like the groups above); first and
        -- last sale moved by the times that gained a line. A purchase that lost its first or
        -- last sale (the net count of its lines at that time fell) is recomputed from its lines
        -- instead. A quantity changed keeps its line's time: no purchase of it is recomputed.
        CREATE TEMPORARY TABLE purchase_changed ON COMMIT DROP AS
        SELECT customer_id, purchase_day, sum(cart_size) AS cart_size, sum(lines) AS lines,
               sum(revenue) AS revenue,
               min(created_at) FILTER (WHERE lines > 0) AS added_first,
               max(created_at) FILTER (WHERE lines > 0) AS added_last,
               min(created_at) FILTER (WHERE lines < 0) AS removed_first,
               max(created_at) FILTER (WHERE lines < 0) AS removed_last
        FROM (SELECT customer_id, CAST(created_at AS date) AS purchase_day, created_at,
                     sum(sign * quantity) AS cart_size, sum(sign) AS lines,
                     sum(sign * amount) AS revenue
              FROM sale_change
              GROUP BY 1, 2, 3) per_time
        GROUP BY 1, 2;
        ANALYZE purchase_changed;
        CREATE TEMPORARY TABLE purchase_recounted ON COMMIT DROP AS
        SELECT k.customer_id, k.purchase_day
        FROM purchase_changed k
        JOIN purchase p ON p.customer_id = k.customer_id AND p.purchase_day = k.purchase_day
        WHERE k.removed_first IS NOT NULL  -- (probes of the key for these only, no scan)
          AND (k.removed_first <= p.first_sale_at OR k.removed_last >= p.last_sale_at);
        purchases_recounted := (SELECT count(*) FROM purchase_recounted);
        UPDATE purchase p
        SET cart_size = p.cart_size + k.cart_size, lines = p.lines + k.lines,
            revenue = p.revenue + k.revenue,
            first_sale_at = LEAST(p.first_sale_at, k.added_first),  -- LEAST skips a NULL
            last_sale_at = GREATEST(p.last_sale_at, k.added_last)
        FROM purchase_changed k
        WHERE p.customer_id = k.customer_id AND p.purchase_day = k.purchase_day
          AND NOT EXISTS (SELECT 1 FROM purchase_recounted r
                          WHERE r.customer_id = k.customer_id AND r.purchase_day = k.purchase_day);
        INSERT INTO purchase
        SELECT customer_id, purchase_day, cart_size, lines, revenue, added_first, added_last
        FROM purchase_changed k
        WHERE k.lines > 0
          AND NOT EXISTS (SELECT 1 FROM purchase p
                          WHERE p.customer_id = k.customer_id AND p.purchase_day = k.purchase_day);
        DELETE FROM purchase p USING purchase_recounted k
        WHERE p.customer_id = k.customer_id AND p.purchase_day = k.purchase_day;
        -- key by key (a subquery per purchase: the index on cart (customer_id, created_at) of
        -- the one leaf partition holding it; a join was planned as a sort of every line)
        INSERT INTO purchase
        SELECT k.customer_id, k.purchase_day, s.cart_size, s.lines, s.revenue, s.first_sale_at,
               s.last_sale_at
        FROM purchase_recounted k
        CROSS JOIN LATERAL (
            SELECT sum(c.quantity) AS cart_size, count(*) AS lines, sum(c.amount) AS revenue,
                   min(c.created_at) AS first_sale_at, max(c.created_at) AS last_sale_at
            FROM cart c
            WHERE c.customer_id = k.customer_id AND c.created_at >= k.purchase_day
              AND c.created_at < k.purchase_day + 1 AND c.deleted_at IS NULL) s
        WHERE s.lines > 0;
    END IF;
    IF EXISTS (SELECT 1 FROM line_change) THEN
        PERFORM apply_product_month_changes();
    END IF;
    -- for the answers kept per key (keep_*): the months whose sales changed (unlogged: their
    -- partition came or went), and the customers of the changed lines
    INSERT INTO sales_month_changed AS c
    SELECT month, bool_or(unlogged)
    FROM (SELECT month, month IN (SELECT month FROM unlogged_month) AS unlogged FROM stale_month
          UNION ALL
          SELECT DISTINCT month, false FROM sale_change) m
    GROUP BY month
    ON CONFLICT (month) DO UPDATE SET unlogged = c.unlogged OR excluded.unlogged;
    INSERT INTO customer_changed
    SELECT DISTINCT customer_id FROM taken_change
    ON CONFLICT DO NOTHING;
    -- a product whose created_at changed: its sums after creation, month by month, from its
    -- lines (the index on cart (product_id, created_at))
    UPDATE product_month t
    SET (sales_after_creation, first_sale_after_creation, seconds_after_creation) = (
        SELECT count(*), min(c.created_at),
               COALESCE(sum(extract(epoch FROM c.created_at - p.created_at)), 0)
        FROM cart c
        WHERE c.product_id = t.product_id AND c.deleted_at IS NULL
          AND c.created_at >= GREATEST(t.month, p.created_at)
          AND c.created_at < t.month + interval '1 month')
    FROM product_summarized p
    WHERE p.product_id = t.product_id
      AND t.product_id IN (SELECT product_id FROM product_moved);
    IF NOT rebuilt THEN
        -- what the all-time sums (product_buyer, the customers' and segments' sums) add: the
        -- sales of the months that came, and the logged sales of the others (a line of a
        -- month that came is among its lines already)
        CREATE TEMPORARY TABLE sale_delta ON COMMIT DROP AS
        SELECT l.customer_id, l.product_id, l.product_variation_id, 1 AS sign, l.quantity,
               l.amount
        FROM came_month m
        CROSS JOIN LATERAL (SELECT * FROM cart
                            WHERE deleted_at IS NULL AND created_at >= m.month
                              AND created_at < m.month + interval '1 month') l
        UNION ALL
        SELECT customer_id, product_id, product_variation_id, sign, quantity, amount
        FROM taken_change
        WHERE deleted_at IS NULL
          AND CAST(date_trunc('month', created_at) AS date) NOT IN (SELECT month FROM came_month);
        ANALYZE sale_delta;
    END IF;
    PERFORM summarize_product_buyers(rebuilt);
    PERFORM summarize_customer_segments(rebuilt, recompute_share);
    -- statistics for the views read next, when whole months changed (a few changed lines
    -- leave them as they were; autovacuum analyzes the tables as changes add up)
    IF months_recomputed > 0 THEN
        ANALYZE purchase;
        ANALYZE product_sales_month;
        ANALYZE product_month;
    END IF;
END
$$;
