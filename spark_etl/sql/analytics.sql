-- The analytics layer: one view per business question (README, "Analytics").
-- Run by spark_etl.analytics with search_path "<analytics schema>, <model schema>": objects are
-- created in the analytics schema and read the model. Everything here is derived data, so the
-- schema is dropped and rebuilt whenever this file changes. Materialized views are created
-- WITH NO DATA and filled by the refresh that follows, each after the views it reads; each is
-- stored twice (store_twice, below), so that readers do not wait for a refresh.
--
-- Definitions: a sale is a cart line with no deleted_at. Revenue = sum(amount) and quantity =
-- sum(quantity) over sales. A product family is product.sku. A purchase (basket) is one
-- customer's sales on one calendar day (UTC); its cart size is its quantity.
--
-- Refresh cost: only four materialized views read all the cart lines (purchase,
-- product_activity, product_sales_monthly, variation_preference); the others derive from them
-- (price_change_impact reads a few days of sales, data_period the first and last line by the
-- index on created_at). Those four read cart rather than the view
-- sale, joining product only where they need it: sale's join keeps every line (cart.product_id
-- is a NOT NULL foreign key) at the cost of a hash join per line. Their queries run in
-- functions that SET jit = off: a plan over the ~240 cart partitions holds thousands of
-- expressions, and at 10M lines JIT compiled them for 5-15 s per query, more than it saved (a
-- SET clause needs a function).

-- Each materialized view x is stored twice, as x__a and x__b (the same query and indexes), and
-- read through the plain view x, which selects from one of them. The refresh
-- (spark_etl.analytics) fills the other one with a plain REFRESH, which no reader waits for,
-- points x at it (an instant CREATE OR REPLACE VIEW), then empties the first. A REFRESH
-- CONCURRENTLY would compute the same rows and then diff them with the old ones: 2-6 times a
-- plain refresh after a load that changed 1% of the lines, as ranks and shares move every row.
-- Called right after x and its indexes are created: the views and functions defined later
-- read the view x.
CREATE PROCEDURE store_twice(name text)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    query text := pg_get_viewdef(to_regclass(quote_ident(name)));
    twin_index record;
BEGIN
    EXECUTE format('ALTER MATERIALIZED VIEW %I RENAME TO %I', name, name || '__a');
    EXECUTE format('CREATE MATERIALIZED VIEW %I AS %s WITH NO DATA', name || '__b',
                   rtrim(query, ';'));
    FOR twin_index IN
        SELECT x.indexrelid, c.relname, x.indisunique
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid
        WHERE x.indrelid = to_regclass(quote_ident(name || '__a'))
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', twin_index.relname,
                       twin_index.relname || '__a');
        -- the same method and keys: the definition from USING on (its name and table differ)
        EXECUTE format('CREATE %s INDEX %I ON %I %s',
                       CASE WHEN twin_index.indisunique THEN 'UNIQUE' ELSE '' END,
                       twin_index.relname || '__b', name || '__b',
                       substring(pg_get_indexdef(twin_index.indexrelid) FROM ' USING .*$'));
    END LOOP;
    EXECUTE format('CREATE VIEW %I AS SELECT * FROM %I', name, name || '__a');
END
$$;

CREATE VIEW sale AS
SELECT c.cart_id, c.customer_id, c.product_id, c.product_variation_id, p.sku,
       c.quantity, c.amount, c.created_at, CAST(c.created_at AS date) AS sale_day
FROM cart c
JOIN product p ON p.product_id = c.product_id
WHERE c.deleted_at IS NULL;

-- The purchases of one calendar month [month_start, + 1 month). A purchase (one day) never
-- spans two months, so purchases are computed month by month: each month's hash table fits
-- in work_mem (one over all lines spilled to disk and took twice as long at 10M lines), and
-- only that month's partitions are read.
CREATE FUNCTION purchase_of_month(month_start timestamp)
RETURNS TABLE (customer_id bigint, purchase_day date, cart_size bigint, lines bigint,
               revenue numeric, first_sale_at timestamp, last_sale_at timestamp)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
AS $$
    SELECT customer_id, CAST(created_at AS date), sum(quantity), count(*), sum(amount),
           min(created_at), max(created_at)
    FROM cart
    WHERE deleted_at IS NULL
      AND created_at >= month_start AND created_at < month_start + interval '1 month'
    GROUP BY 1, 2
$$;

-- A table kept up to date by summarize_cart() (below), not a materialized view: a load that
-- changes a few lines updates the purchases of those lines' customers and days only.
CREATE TABLE purchase (
    customer_id bigint NOT NULL,
    purchase_day date NOT NULL,
    cart_size bigint NOT NULL,
    lines bigint NOT NULL,
    revenue numeric NOT NULL,
    first_sale_at timestamp NOT NULL,
    last_sale_at timestamp NOT NULL
);
CREATE UNIQUE INDEX purchase_key ON purchase (customer_id, purchase_day);

-- cohort_year: year of the customer's created_at. value_tier: quartile of lifetime revenue
-- among customers with a sale (Q1 lowest .. Q4 highest; ties broken by customer id),
-- 'none' for customers without one.
CREATE MATERIALIZED VIEW customer_segment AS
WITH lifetime AS (
    SELECT customer_id, sum(revenue) AS revenue FROM purchase GROUP BY customer_id
)
SELECT c.customer_id,
       CAST(extract(year FROM c.created_at) AS integer) AS cohort_year,
       CASE WHEN l.customer_id IS NULL THEN 'none'
            ELSE 'Q' || ntile(4) OVER (PARTITION BY l.customer_id IS NULL
                                       ORDER BY l.revenue, c.customer_id) END AS value_tier,
       COALESCE(l.revenue, 0) AS lifetime_revenue
FROM customer c
LEFT JOIN lifetime l ON l.customer_id = c.customer_id
WITH NO DATA;
CREATE UNIQUE INDEX customer_segment_key ON customer_segment (customer_id);
CALL store_twice('customer_segment');

-- Both segmentations as rows: (customer, segment_type, segment).
CREATE VIEW customer_segment_membership AS
SELECT customer_id, 'cohort_year' AS segment_type, CAST(cohort_year AS text) AS segment
FROM customer_segment
UNION ALL
SELECT customer_id, 'value_tier', value_tier FROM customer_segment;

-- Everything known per product (every product, sold or not), in one pass over the cart lines:
-- the input of top_products, product_engagement, time_to_purchase and end_of_life_candidates,
-- which used to read all lines each (end_of_life_candidates on every call). lines and
-- removed_lines count every cart line; the rest counts sales only. first_sale_at,
-- avg_days_creation_to_sale and sales_before_creation compare sales with the product's
-- created_at (as in time_to_purchase). The two half-years are relative to the latest sale at
-- refresh time: (latest - 12 months, latest - 6 months] and after.
CREATE FUNCTION product_activity_rows()
RETURNS TABLE (product_id bigint, name text, sku text, created_at timestamp, lines bigint,
               removed_lines bigint, sales bigint, quantity bigint, revenue numeric,
               distinct_customers bigint, first_sale_at timestamp,
               avg_days_creation_to_sale numeric, sales_before_creation bigint,
               last_sale_at timestamp, quantity_previous_half bigint,
               quantity_recent_half bigint, revenue_last_12_months numeric,
               first_line_at timestamp)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
AS $$
    WITH latest AS (SELECT max(created_at) AS at FROM cart WHERE deleted_at IS NULL),
    activity AS (
        -- The latest sale in scalar subqueries (computed once), not joined: that join kept
        -- the aggregation from running in parallel.
        SELECT c.product_id, count(*) AS lines,
               count(*) FILTER (WHERE c.deleted_at IS NOT NULL) AS removed_lines,
               count(*) FILTER (WHERE c.deleted_at IS NULL) AS sales,
               sum(c.quantity) FILTER (WHERE c.deleted_at IS NULL) AS quantity,
               sum(c.amount) FILTER (WHERE c.deleted_at IS NULL) AS revenue,
               min(c.created_at) FILTER (WHERE c.deleted_at IS NULL
                                           AND c.created_at >= p.created_at) AS first_sale_at,
               avg(extract(epoch FROM c.created_at - p.created_at) / 86400)
                   FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at)
                   AS avg_days,
               count(*) FILTER (WHERE c.deleted_at IS NULL AND c.created_at < p.created_at)
                   AS sales_before_creation,
               max(c.created_at) FILTER (WHERE c.deleted_at IS NULL) AS last_sale_at,
               sum(c.quantity) FILTER (
                   WHERE c.deleted_at IS NULL
                     AND c.created_at > (SELECT at FROM latest) - interval '12 months'
                     AND c.created_at <= (SELECT at FROM latest) - interval '6 months')
                   AS previous_half,
               sum(c.quantity) FILTER (
                   WHERE c.deleted_at IS NULL
                     AND c.created_at > (SELECT at FROM latest) - interval '6 months')
                   AS recent_half,
               sum(c.amount) FILTER (
                   WHERE c.deleted_at IS NULL
                     AND c.created_at > (SELECT at FROM latest) - interval '12 months')
                   AS revenue_last_12_months,
               min(c.created_at) AS first_line_at
        FROM cart c
        JOIN product p ON p.product_id = c.product_id
        GROUP BY c.product_id
    ), buyers AS (
        -- Grouped by product_id + 0 so that the lines are sorted once rather than read in
        -- the order of the index on product_id (a random heap access per line: 4x slower).
        SELECT product_id + 0 AS product_id, count(DISTINCT customer_id) AS customers
        FROM cart
        WHERE deleted_at IS NULL
        GROUP BY 1
    )
    SELECT p.product_id, p.name, p.sku, p.created_at, COALESCE(a.lines, 0),
           COALESCE(a.removed_lines, 0), COALESCE(a.sales, 0), COALESCE(a.quantity, 0),
           COALESCE(a.revenue, 0), COALESCE(b.customers, 0), a.first_sale_at, a.avg_days,
           COALESCE(a.sales_before_creation, 0), a.last_sale_at, COALESCE(a.previous_half, 0),
           COALESCE(a.recent_half, 0), COALESCE(a.revenue_last_12_months, 0), a.first_line_at
    FROM product p
    LEFT JOIN activity a ON a.product_id = p.product_id
    LEFT JOIN buyers b ON b.product_id = p.product_id
$$;

CREATE MATERIALIZED VIEW product_activity AS
SELECT * FROM product_activity_rows()
WITH NO DATA;
CREATE UNIQUE INDEX product_activity_key ON product_activity (product_id);
CALL store_twice('product_activity');

-- 1. Which products sell most, by quantity and by revenue, and how concentrated is revenue?
CREATE MATERIALIZED VIEW top_products AS
SELECT product_id, name, sku, quantity, revenue,
       rank() OVER (ORDER BY quantity DESC) AS rank_by_quantity,
       rank() OVER (ORDER BY revenue DESC) AS rank_by_revenue,
       round(revenue / NULLIF(sum(revenue) OVER (), 0), 4) AS revenue_share,
       -- Pareto: the share of all revenue of this product and every one before it by revenue
       round(sum(revenue) OVER (ORDER BY revenue DESC, product_id ROWS UNBOUNDED PRECEDING)
             / NULLIF(sum(revenue) OVER (), 0), 4) AS cumulative_revenue_share
FROM product_activity
WHERE sales > 0
WITH NO DATA;
CREATE UNIQUE INDEX top_products_key ON top_products (product_id);
CREATE INDEX top_products_by_quantity ON top_products (rank_by_quantity);
CREATE INDEX top_products_by_revenue ON top_products (rank_by_revenue);
CALL store_twice('top_products');

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

CREATE TABLE product_sales_month (
    month date NOT NULL,
    product_id bigint NOT NULL,
    product_variation_id bigint NOT NULL,
    quantity bigint NOT NULL,
    revenue numeric NOT NULL,
    sales bigint NOT NULL
);
CREATE UNIQUE INDEX product_sales_month_key ON product_sales_month (month, product_variation_id);
CREATE INDEX product_sales_month_product ON product_sales_month (product_id, month);

CREATE VIEW product_sales_monthly AS
SELECT month, product_id, product_variation_id, quantity, revenue FROM product_sales_month;

-- Incremental upkeep of purchase and product_sales_month. The statement triggers below log
-- every line a statement on cart inserts, updates or deletes into cart_change, in the load's
-- own transaction: the image before (sign -1) and after (sign +1). A load that adds a month
-- attaches a partition filled beside cart (merges.load_new_partitions) and fires no trigger;
-- the retention job detaches and attaches months likewise. So cart_range_summarized records
-- the partitions (by oid) whose lines the tables hold, and a month whose partitions came or
-- went since is recomputed whole. summarize_cart() runs in one REPEATABLE READ transaction:
-- the log it takes and the lines it reads are one state of cart; what a load commits after
-- that stays in the log for the next refresh.
CREATE TABLE cart_change (
    sign smallint NOT NULL,
    customer_id bigint NOT NULL,
    product_id bigint NOT NULL,
    product_variation_id bigint NOT NULL,
    quantity bigint NOT NULL,
    amount numeric NOT NULL,
    created_at timestamp NOT NULL,
    deleted_at timestamp
);

CREATE TABLE cart_range_summarized (
    partition oid PRIMARY KEY,
    range_from timestamp NOT NULL,
    range_to timestamp NOT NULL
);

-- One function for the three statement triggers: TG_OP says which images the statement has.
CREATE FUNCTION note_cart_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO cart_change
        SELECT -1, customer_id, product_id, product_variation_id, quantity, amount, created_at,
               deleted_at
        FROM old_lines;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO cart_change
        SELECT 1, customer_id, product_id, product_variation_id, quantity, amount, created_at,
               deleted_at
        FROM new_lines;
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE keeps the partitions (and their oids): every month is recomputed at the next refresh.
CREATE FUNCTION forget_cart_summaries() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    DELETE FROM cart_range_summarized;
    DELETE FROM cart_change;
    RETURN NULL;
END
$$;

-- One analytics schema per model: OR REPLACE takes the triggers over from an earlier one.
CREATE OR REPLACE TRIGGER analytics_cart_insert AFTER INSERT ON cart
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION note_cart_change();
CREATE OR REPLACE TRIGGER analytics_cart_update AFTER UPDATE ON cart
    REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION note_cart_change();
CREATE OR REPLACE TRIGGER analytics_cart_delete AFTER DELETE ON cart
    REFERENCING OLD TABLE AS old_lines
    FOR EACH STATEMENT EXECUTE FUNCTION note_cart_change();
CREATE OR REPLACE TRIGGER analytics_cart_truncate AFTER TRUNCATE ON cart
    FOR EACH STATEMENT EXECUTE FUNCTION forget_cart_summaries();

-- cart's partitions of a range (a month's, or each of its hash leaves' parent): their oid and
-- bounds, as PostgreSQL prints them (FOR VALUES FROM ('...') TO ('...')).
CREATE FUNCTION cart_ranges()
RETURNS TABLE (partition oid, range_from timestamp, range_to timestamp)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    SELECT c.oid, CAST(b[1] AS timestamp), CAST(b[2] AS timestamp)
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    $re$FROM \('([^']*)'\) TO \('([^']*)'\)$re$) AS b
    WHERE i.inhparent = CAST('cart' AS regclass) AND b IS NOT NULL
$$;

-- Bring purchase and product_sales_month up to date with cart; returns the months recomputed
-- whole, the changed lines applied and the purchases recounted from their lines. Call it in a REPEATABLE READ transaction. A month whose
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
BEGIN
    CREATE TEMPORARY TABLE taken_change ON COMMIT DROP AS
    WITH taken AS (DELETE FROM cart_change RETURNING *) SELECT * FROM taken;
    -- counted for the planner: without statistics it expects a few rows and compares each
    -- line with every online month in a nested loop
    ANALYZE taken_change;
    CREATE TEMPORARY TABLE range_now ON COMMIT DROP AS SELECT * FROM cart_ranges();
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
                       WHERE month NOT IN (SELECT month FROM stale_month)) THEN
            -- refilled whole (the first build, a rebuild): emptied by TRUNCATE (new files,
            -- which wal_level = minimal then fills without logging every row), and the indexes
            -- dropped and built once after the rows (a fifth faster than row by row)
            TRUNCATE purchase, product_sales_month;
            SELECT array_agg(indexdef),
                   'DROP INDEX ' || string_agg(quote_ident(schemaname) || '.'
                                               || quote_ident(indexname), ', ')
            INTO index_definitions, drop_indexes
            FROM pg_indexes
            WHERE schemaname = current_schema()
              AND tablename IN ('purchase', 'product_sales_month');
            EXECUTE drop_indexes;
        ELSE
            DELETE FROM purchase
            WHERE CAST(date_trunc('month', purchase_day) AS date) IN (SELECT month FROM stale_month);
            DELETE FROM product_sales_month WHERE month IN (SELECT month FROM stale_month);
        END IF;
        -- in customer order: the index builds from sorted rows, and the views aggregating
        -- purchases per customer find each customer's purchases together
        INSERT INTO purchase
        SELECT p.* FROM stale_month s CROSS JOIN LATERAL purchase_of_month(s.month) p
        ORDER BY p.customer_id, p.purchase_day;
        INSERT INTO product_sales_month
        SELECT p.* FROM stale_month s CROSS JOIN LATERAL product_sales_of_month(s.month) p;
        FOREACH definition IN ARRAY COALESCE(index_definitions, '{}') LOOP
            EXECUTE definition;
        END LOOP;
        DELETE FROM cart_range_summarized s
        WHERE NOT EXISTS (SELECT 1 FROM range_now n WHERE n.partition = s.partition);
        INSERT INTO cart_range_summarized
        SELECT * FROM range_now n
        WHERE NOT EXISTS (SELECT 1 FROM cart_range_summarized s WHERE s.partition = n.partition);
    END IF;
    -- the logged sales of the other months that are online: added to their groups, and their
    -- purchases recomputed (a line whose partition has gone since is in a stale month)
    CREATE TEMPORARY TABLE sale_change ON COMMIT DROP AS
    SELECT t.*, CAST(date_trunc('month', t.created_at) AS date) AS month
    FROM taken_change t
    WHERE t.deleted_at IS NULL
      AND CAST(date_trunc('month', t.created_at) AS date) IN (
          SELECT CAST(m.month AS date)
          FROM range_now n
          CROSS JOIN generate_series(date_trunc('month', n.range_from),
                                     n.range_to - interval '1 microsecond', interval '1 month')
              AS m (month)
          EXCEPT
          SELECT month FROM stale_month);
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
    -- statistics for the views read next, when whole months changed (a few changed lines
    -- leave them as they were; autovacuum analyzes the tables as changes add up)
    IF months_recomputed > 0 THEN
        ANALYZE purchase;
        ANALYZE product_sales_month;
    END IF;
END
$$;

-- The period the sales cover: from the first sale to the last (a few index probes of cart),
-- and its first and last months. A month is partial when the data starts after its first day
-- or ends before its last. The views cover what is online: the months the retention job
-- archived (and that were not restored) are not in them, and are counted here.
CREATE MATERIALIZED VIEW data_period AS
SELECT first_sale_at, last_sale_at,
       CAST(date_trunc('month', first_sale_at) AS date) AS first_month,
       CAST(date_trunc('month', last_sale_at) AS date) AS last_month,
       a.archived_months, a.first_archived_month, a.last_archived_month, a.archived_on
FROM (SELECT min(created_at) AS first_sale_at, max(created_at) AS last_sale_at
      FROM cart WHERE deleted_at IS NULL) s
CROSS JOIN (SELECT count(*) AS archived_months, min(period) AS first_archived_month,
                   max(period) AS last_archived_month, max(archived_at) AS archived_on
            FROM etl_archive WHERE table_name = 'cart' AND restored_at IS NULL) a
WITH NO DATA;
CREATE UNIQUE INDEX data_period_key ON data_period (first_sale_at);
CALL store_twice('data_period');

-- 0. The business month by month (the key figures and their trend), every month of the period
-- present (zeros where nothing sold; months archived inside the period left out): revenue,
-- sales (cart lines sold), quantity, buying customers, purchases; basket value and size per
-- purchase; revenue against the month before and the same month a year before (ratio - 1;
-- NULL when there is nothing to compare with, an archived month included).
CREATE MATERIALIZED VIEW monthly_kpi AS
WITH per_month AS (
    SELECT CAST(date_trunc('month', purchase_day) AS date) AS month, sum(revenue) AS revenue,
           sum(lines) AS sales, sum(cart_size) AS quantity,
           count(DISTINCT customer_id) AS buying_customers, count(*) AS purchases
    FROM purchase
    GROUP BY 1
), months AS (
    SELECT CAST(m.month AS date) AS month, d.first_sale_at, d.last_sale_at
    FROM data_period d
    CROSS JOIN generate_series(d.first_month, d.last_month, interval '1 month') AS m (month)
    -- a month archived by the retention job between restored ones is absent, not a zero
    WHERE NOT EXISTS (SELECT 1 FROM etl_archive a WHERE a.table_name = 'cart'
                      AND a.restored_at IS NULL AND a.period = CAST(m.month AS date))
), filled AS (
    SELECT m.month,
           CAST(m.first_sale_at AS date) > m.month
               OR CAST(m.last_sale_at AS date)
                  < CAST(m.month + interval '1 month' - interval '1 day' AS date) AS partial,
           COALESCE(p.revenue, 0) AS revenue, COALESCE(p.sales, 0) AS sales,
           COALESCE(p.quantity, 0) AS quantity, COALESCE(p.buying_customers, 0) AS buying_customers,
           COALESCE(p.purchases, 0) AS purchases
    FROM months m
    LEFT JOIN per_month p ON p.month = m.month
)
SELECT f.month, f.partial, f.revenue, CAST(f.sales AS bigint) AS sales,
       CAST(f.quantity AS bigint) AS quantity, f.buying_customers, f.purchases,
       round(f.revenue / NULLIF(f.purchases, 0), 2) AS avg_basket_value,
       round(f.quantity / NULLIF(f.purchases, 0), 2) AS avg_basket_size,
       round(f.revenue / NULLIF(prev.revenue, 0) - 1, 4) AS revenue_change_mom,
       round(f.revenue / NULLIF(yb.revenue, 0) - 1, 4) AS revenue_change_yoy
FROM filled f
LEFT JOIN filled prev ON prev.month = f.month - interval '1 month'
LEFT JOIN filled yb ON yb.month = f.month - interval '12 months'
WITH NO DATA;
CREATE UNIQUE INDEX monthly_kpi_key ON monthly_kpi (month);
CALL store_twice('monthly_kpi');

-- 0b. The first screen: each key figure of the latest whole month (the latest month when none
-- is whole) against the month before and the same month a year before. Changes are computed
-- from the exact figures, not from the rounded averages shown; *_partial says when the month
-- compared with is partial (the data starts inside it).
CREATE VIEW key_figures AS
WITH latest AS (
    SELECT COALESCE(max(month) FILTER (WHERE NOT partial), max(month)) AS month FROM monthly_kpi
), figures AS (
    SELECT k.month, k.partial, v.position, v.measure, v.unit, v.value
    FROM monthly_kpi k
    CROSS JOIN LATERAL (VALUES
        (1, 'revenue', 'currency', k.revenue),
        (2, 'sales', 'cart lines', CAST(k.sales AS numeric)),
        (3, 'buying customers', 'customers', CAST(k.buying_customers AS numeric)),
        (4, 'average basket value', 'currency', k.revenue / NULLIF(k.purchases, 0)),
        (5, 'average basket size', 'items', k.quantity / CAST(NULLIF(k.purchases, 0) AS numeric))
    ) AS v (position, measure, unit, value)
)
SELECT cur.month, cur.partial, cur.position, cur.measure, cur.unit,
       round(cur.value, 2) AS value, round(prev.value, 2) AS previous_month_value,
       round(cur.value / NULLIF(prev.value, 0) - 1, 4) AS change_vs_previous_month,
       round(yb.value, 2) AS year_before_value,
       round(cur.value / NULLIF(yb.value, 0) - 1, 4) AS change_vs_year_before,
       prev.partial AS previous_month_partial, yb.partial AS year_before_partial
FROM latest l
JOIN figures cur ON cur.month = l.month
LEFT JOIN figures prev ON prev.month = cur.month - interval '1 month' AND prev.position = cur.position
LEFT JOIN figures yb ON yb.month = cur.month - interval '12 months' AND yb.position = cur.position;

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

-- One row: the average over customers with a sale of their quantity and revenue per purchase,
-- and the overall quantity and revenue per purchase (every purchase weighs the same).
CREATE VIEW avg_purchase_quantity AS
SELECT count(*) AS customers,
       round(avg(CAST(quantity AS numeric) / purchases), 2) AS avg_purchase_quantity,
       round(CAST(sum(quantity) AS numeric) / NULLIF(sum(purchases), 0), 2)
           AS overall_quantity_per_purchase,
       round(avg(revenue / purchases), 2) AS avg_basket_value,
       round(sum(revenue) / NULLIF(sum(purchases), 0), 2) AS overall_basket_value
FROM customer_purchase_summary;

-- 3b. How big are baskets? Purchases per cart size (items; 10 and more together), their share
-- of all purchases and of revenue, and their average value.
CREATE MATERIALIZED VIEW basket_size_distribution AS
SELECT LEAST(cart_size, 10) AS cart_size, CASE WHEN cart_size >= 10 THEN '10+'
                                               ELSE CAST(cart_size AS text) END AS items,
       count(*) AS purchases,
       round(count(*) / NULLIF(CAST(sum(count(*)) OVER () AS numeric), 0), 4) AS purchase_share,
       sum(revenue) AS revenue,
       round(sum(revenue) / NULLIF(sum(sum(revenue)) OVER (), 0), 4) AS revenue_share,
       round(avg(revenue), 2) AS avg_basket_value
FROM purchase
GROUP BY 1, 2
WITH NO DATA;
CREATE UNIQUE INDEX basket_size_distribution_key ON basket_size_distribution (cart_size);
CALL store_twice('basket_size_distribution');

-- 4. Seasonality. A calendar month's figures are averaged over the years in which it was
-- observed: from the first month with a sale (for a family, from its launch, unless a sale came
-- earlier) to the last one, a month without sales counting as zero. Data
-- from 2023-01 to 2024-03 thus averages January over two years and April over one, and a
-- family launched in July gets no zeros for the months before. index_vs_average = the month's
-- average revenue / the mean of the months' averages (1.0 = an average month); quantity_index
-- likewise for quantity.

-- 2b. Each product family (product.sku) month by month, from its launch (its first product's
-- creation, or the data's first month if later; or its first sale where a sale predates the
-- launch) to the data's last month, months without sales as zeros; partial as in monthly_kpi;
-- revenue against the month before and the same month a year before (ratio - 1);
-- family_rank by revenue over the whole period (1 = the largest family), so that a chart can
-- take the leading families without reading them all.
CREATE MATERIALIZED VIEW family_sales_monthly AS
WITH monthly AS (
    SELECT p.sku, s.month, sum(s.quantity) AS quantity, sum(s.revenue) AS revenue
    FROM product_sales_monthly s
    JOIN product p ON p.product_id = s.product_id
    GROUP BY 1, 2
), family AS (
    SELECT p.sku,
           LEAST(min(first_sale.month),
                 GREATEST(d.first_month, date_trunc('month', min(p.created_at)))) AS first_month,
           d.last_month
    FROM product p
    JOIN (SELECT sku, min(month) AS month FROM monthly GROUP BY sku) first_sale
      ON first_sale.sku = p.sku
    CROSS JOIN data_period d
    GROUP BY p.sku, d.first_month, d.last_month
), filled AS (
    SELECT f.sku, CAST(m.month AS date) AS month, k.partial,
           CAST(COALESCE(monthly.quantity, 0) AS bigint) AS quantity,
           COALESCE(monthly.revenue, 0) AS revenue
    FROM family f
    CROSS JOIN generate_series(f.first_month, f.last_month, interval '1 month') AS m (month)
    JOIN monthly_kpi k ON k.month = m.month
    LEFT JOIN monthly ON monthly.sku = f.sku AND monthly.month = m.month
), ranked AS (
    -- the families ranked once (a row each), not the rows of all their months
    SELECT sku, dense_rank() OVER (ORDER BY sum(revenue) DESC, sku) AS family_rank
    FROM filled
    GROUP BY sku
)
SELECT f.sku, f.month, f.partial, f.quantity, f.revenue,
       round(f.revenue / NULLIF(lag(f.revenue) OVER w, 0) - 1, 4) AS revenue_change_mom,
       round(f.revenue / NULLIF(lag(f.revenue, 12) OVER w, 0) - 1, 4) AS revenue_change_yoy,
       r.family_rank
FROM filled f
JOIN ranked r ON r.sku = f.sku
WINDOW w AS (PARTITION BY f.sku ORDER BY f.month)
WITH NO DATA;
CREATE UNIQUE INDEX family_sales_monthly_key ON family_sales_monthly (sku, month);
CREATE INDEX family_sales_monthly_rank ON family_sales_monthly (family_rank, month);
CALL store_twice('family_sales_monthly');

-- 4. Seasonality. A calendar month's figures are averaged over the years in which it was
-- observed: the months of monthly_kpi (for a family, those of family_sales_monthly, from its
-- launch), a month without sales counting as zero. Data from 2023-01 to 2024-03 thus averages
-- January over two years and April over one, and a family launched in July gets no zeros for
-- the months before. index_vs_average = the month's average revenue / the mean of the
-- months' averages (1.0 = an average month); quantity_index likewise for quantity.

-- 4a. All products together: a plain view over monthly_kpi (one row per month).
CREATE VIEW seasonality AS
WITH per_month AS (
    SELECT CAST(date_part('month', month) AS integer) AS month_of_year,
           count(*) AS years_observed, CAST(sum(quantity) AS bigint) AS quantity,
           sum(revenue) AS revenue, CAST(sum(quantity) AS numeric) / count(*) AS avg_quantity,
           sum(revenue) / count(*) AS avg_revenue
    FROM monthly_kpi
    GROUP BY 1
)
SELECT month_of_year, (month_of_year - 1) / 3 + 1 AS quarter, years_observed, quantity, revenue,
       round(avg_revenue / NULLIF(avg(avg_revenue) OVER (), 0), 4) AS index_vs_average,
       round(avg_quantity / NULLIF(avg(avg_quantity) OVER (), 0), 4) AS quantity_index
FROM per_month;

-- 4b. Per product family, from family_sales_monthly.
CREATE MATERIALIZED VIEW seasonality_by_family AS
WITH per_month AS (
    SELECT sku, CAST(date_part('month', month) AS integer) AS month_of_year,
           count(*) AS years_observed, CAST(sum(quantity) AS bigint) AS quantity,
           sum(revenue) AS revenue, CAST(sum(quantity) AS numeric) / count(*) AS avg_quantity,
           sum(revenue) / count(*) AS avg_revenue
    FROM family_sales_monthly
    GROUP BY 1, 2
)
SELECT sku, month_of_year, (month_of_year - 1) / 3 + 1 AS quarter, years_observed, quantity,
       revenue,
       round(avg_revenue / NULLIF(avg(avg_revenue) OVER (PARTITION BY sku), 0), 4)
           AS index_vs_average,
       round(avg_quantity / NULLIF(avg(avg_quantity) OVER (PARTITION BY sku), 0), 4)
           AS quantity_index
FROM per_month
WITH NO DATA;
CREATE UNIQUE INDEX seasonality_by_family_key ON seasonality_by_family (sku, month_of_year);
CALL store_twice('seasonality_by_family');

-- 4c. Each year on its own: the month's revenue / the mean month of that year (over the
-- months of the year inside the data), so a year's shape can be compared with the average's.
CREATE VIEW seasonality_by_year AS
SELECT CAST(date_part('year', month) AS integer) AS year,
       CAST(date_part('month', month) AS integer) AS month_of_year, quantity, revenue,
       round(revenue / NULLIF(avg(revenue) OVER (PARTITION BY date_part('year', month)), 0), 4)
           AS index_vs_year_average
FROM monthly_kpi;

-- 5. Who buys most often? Ranked by purchases, then quantity, then revenue.
CREATE MATERIALIZED VIEW most_active_customers AS
SELECT s.customer_id, c.name, s.purchases, s.quantity, s.revenue,
       rank() OVER (ORDER BY s.purchases DESC, s.quantity DESC, s.revenue DESC) AS rank
FROM customer_purchase_summary s
JOIN customer c ON c.customer_id = s.customer_id
WITH NO DATA;
CREATE UNIQUE INDEX most_active_customers_key ON most_active_customers (customer_id);
CREATE INDEX most_active_customers_rank ON most_active_customers (rank);
CALL store_twice('most_active_customers');

-- 6. How often do segments buy? customers = every customer of the segment;
-- avg_purchases_per_active_month: each customer's purchases / the months they could buy in the
-- data (from joining to the last sale), averaged over the segment;
-- avg_days_between_purchases over its customers with two purchases or more:
-- (last purchase day - first purchase day) / (purchases - 1); the purchase days are those of
-- the first and the last sale.
CREATE MATERIALIZED VIEW purchase_frequency_by_segment AS
WITH per_customer AS (
    SELECT c.customer_id, COALESCE(s.purchases, 0) AS purchases,
           CASE WHEN s.purchases > 1
                THEN CAST(CAST(s.last_purchase_at AS date) - CAST(s.first_purchase_at AS date)
                          AS numeric) / (s.purchases - 1)
           END AS days_between,
           -- months (of 365.25 / 12 days) from joining (or the first purchase, if earlier; or
           -- the data's start, if later) to the last sale of the data; one at least
           GREATEST(extract(epoch FROM d.last_sale_at
                                       - GREATEST(LEAST(c.created_at, s.first_purchase_at),
                                                  d.first_sale_at)) / 86400 / (365.25 / 12),
                    1) AS active_months
    FROM customer c
    CROSS JOIN data_period d
    LEFT JOIN customer_purchase_summary s ON s.customer_id = c.customer_id
)
SELECT m.segment_type, m.segment, count(*) AS customers,
       round(avg(p.purchases), 2) AS avg_purchases_per_customer,
       round(avg(p.days_between), 2) AS avg_days_between_purchases,
       -- purchases per month as a customer, averaged: an old cohort does not win by age alone
       round(avg(p.purchases / p.active_months), 4) AS avg_purchases_per_active_month
FROM customer_segment_membership m
JOIN per_customer p ON p.customer_id = m.customer_id
GROUP BY m.segment_type, m.segment
WITH NO DATA;
CREATE UNIQUE INDEX purchase_frequency_by_segment_key
    ON purchase_frequency_by_segment (segment_type, segment);
CALL store_twice('purchase_frequency_by_segment');

-- 7. Which variations (a product's full SKU, its price versions summed) does each segment
-- prefer within a family? quantity_share = the
-- variation's quantity / the family's quantity, within the segment. One pass: each sale is
-- joined to its customer's segments once and summed per segment of either kind (GROUPING SETS).
CREATE FUNCTION variation_preference_rows()
RETURNS TABLE (segment_type text, segment text, sku text, full_sku text, product_id bigint,
               quantity numeric)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
-- BEGIN ATOMIC, not a string body: PostgreSQL then records that the function reads
-- customer_segment (pg_depend), which orders the refresh.
BEGIN ATOMIC
    WITH per_product AS (
        -- Summed per (cohort_year, value_tier, product, variation) first: a few hundred
        -- thousand groups, hashed in memory. GROUPING SETS straight over the lines were
        -- planned as two sorts of all of them (without statistics on the freshly refreshed
        -- segments, the planner expects millions of groups, too many for a hash table).
        SELECT s.cohort_year, s.value_tier, c.product_id, c.product_variation_id,
               sum(c.quantity) AS quantity
        FROM cart c
        JOIN customer_segment s ON s.customer_id = c.customer_id
        WHERE c.deleted_at IS NULL
        GROUP BY 1, 2, 3, 4
    ), bought AS (
        SELECT CASE WHEN GROUPING(g.cohort_year) = 0 THEN 'cohort_year' ELSE 'value_tier' END
                   AS segment_type,
               CASE WHEN GROUPING(g.cohort_year) = 0 THEN CAST(g.cohort_year AS text)
                    ELSE g.value_tier END AS segment,
               p.sku, v.full_sku, g.product_id, sum(g.quantity) AS quantity
        FROM per_product g
        JOIN product p ON p.product_id = g.product_id
        JOIN product_variation v ON v.product_variation_id = g.product_variation_id
        GROUP BY GROUPING SETS ((g.cohort_year, p.sku, v.full_sku, g.product_id),
                                (g.value_tier, p.sku, v.full_sku, g.product_id))
    )
    SELECT segment_type, segment, sku, full_sku, product_id, quantity FROM bought;
END;

-- overall_share: the variation's share of its family over all customers (the segments of one
-- type partition the buyers, so their sum is everybody); preference_index = quantity_share /
-- overall_share (above 1: the segment prefers it more than customers overall).
-- family_rank by the family's quantity (1 = the largest), for charts of the leading family.
CREATE MATERIALIZED VIEW variation_preference AS
WITH shares AS (
    SELECT r.*,
           r.quantity / sum(r.quantity) OVER (PARTITION BY segment_type, segment, sku) AS share,
           sum(r.quantity) OVER (PARTITION BY segment_type, sku, full_sku, product_id)
               / sum(r.quantity) OVER (PARTITION BY segment_type, sku) AS overall,
           sum(r.quantity) OVER (PARTITION BY segment_type, sku) AS family_quantity
    FROM variation_preference_rows() r
)
SELECT segment_type, segment, sku, full_sku, product_id, quantity,
       round(share, 4) AS quantity_share, round(overall, 4) AS overall_share,
       round(share / NULLIF(overall, 0), 4) AS preference_index,
       dense_rank() OVER (PARTITION BY segment_type ORDER BY family_quantity DESC, sku)
           AS family_rank
FROM shares
WITH NO DATA;
CREATE UNIQUE INDEX variation_preference_key
    ON variation_preference (segment_type, segment, product_id, full_sku);
CALL store_twice('variation_preference');

-- 8. How big are the baskets of each segment? Each purchase joined to its customer's segments
-- once, averaged per segment of either kind (GROUPING SETS).
CREATE MATERIALIZED VIEW avg_cart_size_by_segment AS
SELECT CASE WHEN GROUPING(s.cohort_year) = 0 THEN 'cohort_year' ELSE 'value_tier' END
           AS segment_type,
       CASE WHEN GROUPING(s.cohort_year) = 0 THEN CAST(s.cohort_year AS text)
            ELSE s.value_tier END AS segment,
       count(*) AS purchases,
       round(avg(p.cart_size), 2) AS avg_cart_size,
       round(avg(p.lines), 2) AS avg_lines_per_purchase,
       round(avg(p.revenue), 2) AS avg_basket_value
FROM purchase p
JOIN customer_segment s ON s.customer_id = p.customer_id
GROUP BY GROUPING SETS ((s.cohort_year), (s.value_tier))
WITH NO DATA;
CREATE UNIQUE INDEX avg_cart_size_by_segment_key ON avg_cart_size_by_segment (segment_type, segment);
CALL store_twice('avg_cart_size_by_segment');

-- 9. Which variations lead each family? A variation here is a product's full SKU, its price
-- versions (product_variation rows) summed: a repricing does not split it in two. Ranked by
-- quantity within the family. From the monthly sales per price version.
CREATE MATERIALIZED VIEW top_variations_by_category AS
WITH per_version AS (
    SELECT product_id, product_variation_id, sum(quantity) AS quantity, sum(revenue) AS revenue
    FROM product_sales_monthly GROUP BY 1, 2
), per_sku AS (
    SELECT p.sku, v.full_sku, v.product_id, max(v.variation) AS variation,
           CAST(sum(s.quantity) AS bigint) AS quantity, sum(s.revenue) AS revenue,
           count(*) AS price_versions
    FROM per_version s
    JOIN product_variation v ON v.product_variation_id = s.product_variation_id
    JOIN product p ON p.product_id = v.product_id
    GROUP BY p.sku, v.full_sku, v.product_id
)
SELECT sku, full_sku, product_id, variation, quantity, revenue, price_versions,
       rank() OVER (PARTITION BY sku ORDER BY quantity DESC) AS rank_in_category
FROM per_sku
WITH NO DATA;
CREATE UNIQUE INDEX top_variations_by_category_key ON top_variations_by_category (product_id, full_sku);
CREATE INDEX top_variations_by_category_rank ON top_variations_by_category (sku, rank_in_category);
CALL store_twice('top_variations_by_category');

-- 10. What did each price change do? A price change is a variation closed and its successor
-- (opened at the same instant) at another price. Sales of the product in the 30 days before
-- and after the change, each window cut at the neighbouring changes of the product (so one
-- change's sales never count for another) and at the period the data covers (from the day of
-- its first sale to the end of the day of its last); figures per day of the window, so windows
-- of different lengths compare; days_before and days_after say how long each window is, and
-- complete_windows whether both are the full 30 days. *_change = after per day / before per
-- day - 1 (NULL when nothing sold before or a window is empty).
-- Against the market: family_quantity_change is the same ratio for the other products of the
-- family over the same windows; elasticity = quantity_change / price change (both as
-- fractions), family_adjusted_elasticity the same after dividing out the family's change
-- ((1 + quantity_change) / (1 + family_quantity_change) - 1), NULL when the family sold
-- nothing else in either window.
CREATE MATERIALIZED VIEW price_change_impact AS
WITH change AS (
    SELECT old.product_id, p.sku, old.product_variation_id AS old_variation_id,
           new.product_variation_id AS new_variation_id, old.price AS old_price,
           new.price AS new_price, new.valid_from AS changed_at,
           old.valid_from AS previous_change_at, new.valid_to AS next_change_at
    FROM product_variation old
    JOIN product_variation new
      ON new.product_id = old.product_id AND new.valid_from = old.valid_to
     AND new.product_variation_id <> old.product_variation_id
    JOIN product p ON p.product_id = old.product_id
    -- zero-length variations [T, T) (left by loads before they were replaced in place) are
    -- skipped: the change runs from the last non-empty one to the next non-empty one
    WHERE old.price <> new.price
      AND old.valid_to > old.valid_from
      AND (new.valid_to IS NULL OR new.valid_to > new.valid_from)
), bounded AS (
    SELECT c.*,
           GREATEST(c.changed_at - interval '30 days', c.previous_change_at,
                    CAST(d.first_sale_at AS date)) AS before_from,
           LEAST(c.changed_at + interval '30 days', c.next_change_at,
                 CAST(d.last_sale_at AS date) + 1) AS after_to
    FROM change c
    CROSS JOIN data_period d
), windows AS (
    SELECT b.old_variation_id,
           GREATEST(extract(epoch FROM b.changed_at - b.before_from) / 86400, 0) AS days_before,
           GREATEST(extract(epoch FROM b.after_to - b.changed_at) / 86400, 0) AS days_after,
           COALESCE(sum(s.quantity) FILTER (WHERE s.created_at < b.changed_at), 0) AS q_before,
           COALESCE(sum(s.quantity) FILTER (WHERE s.created_at >= b.changed_at), 0) AS q_after,
           COALESCE(sum(s.amount) FILTER (WHERE s.created_at < b.changed_at), 0) AS r_before,
           COALESCE(sum(s.amount) FILTER (WHERE s.created_at >= b.changed_at), 0) AS r_after,
           count(DISTINCT s.customer_id) FILTER (WHERE s.created_at < b.changed_at) AS c_before,
           count(DISTINCT s.customer_id) FILTER (WHERE s.created_at >= b.changed_at) AS c_after
    FROM bounded b
    LEFT JOIN sale s
      ON s.product_id = b.product_id
     AND s.created_at >= b.before_from
     AND s.created_at < b.after_to
    GROUP BY b.old_variation_id, b.changed_at, b.before_from, b.after_to
), family AS (
    -- the family's other products in the same windows (by the index on cart (product_id,
    -- created_at), product by product)
    SELECT b.old_variation_id,
           COALESCE(sum(fc.quantity) FILTER (WHERE fc.created_at < b.changed_at), 0) AS fq_before,
           COALESCE(sum(fc.quantity) FILTER (WHERE fc.created_at >= b.changed_at), 0) AS fq_after
    FROM bounded b
    JOIN product fp ON fp.sku = b.sku AND fp.product_id <> b.product_id
    JOIN cart fc
      ON fc.product_id = fp.product_id
     AND fc.created_at >= b.before_from
     AND fc.created_at < b.after_to
     AND fc.deleted_at IS NULL
    GROUP BY b.old_variation_id
), measured AS (
    SELECT c.*, w.days_before, w.days_after, w.q_before, w.q_after, w.r_before, w.r_after,
           w.c_before, w.c_after,
           (c.new_price - c.old_price) / NULLIF(c.old_price, 0) AS price_change,
           w.q_after * w.days_before / NULLIF(w.q_before * w.days_after, 0) - 1 AS q_change,
           f.fq_after * w.days_before / NULLIF(f.fq_before * w.days_after, 0) - 1 AS fq_change
    FROM change c
    JOIN windows w ON w.old_variation_id = c.old_variation_id
    LEFT JOIN family f ON f.old_variation_id = c.old_variation_id
)
SELECT product_id, old_variation_id, new_variation_id, old_price, new_price,
       round(price_change * 100, 2) AS pct_change,
       changed_at, round(days_before, 2) AS days_before, round(days_after, 2) AS days_after,
       days_before = 30 AND days_after = 30 AS complete_windows,
       round(q_before / NULLIF(days_before, 0), 4) AS quantity_per_day_before,
       round(q_after / NULLIF(days_after, 0), 4) AS quantity_per_day_after,
       round(q_change, 4) AS quantity_change,
       round(r_before / NULLIF(days_before, 0), 4) AS revenue_per_day_before,
       round(r_after / NULLIF(days_after, 0), 4) AS revenue_per_day_after,
       round(r_after * days_before / NULLIF(r_before * days_after, 0) - 1, 4) AS revenue_change,
       c_before AS customers_before, c_after AS customers_after,
       round(c_after * days_before / NULLIF(c_before * days_after, 0) - 1, 4) AS customers_change,
       round(fq_change, 4) AS family_quantity_change,
       round(q_change / NULLIF(price_change, 0), 4) AS elasticity,
       round(((1 + q_change) / NULLIF(1 + fq_change, 0) - 1) / NULLIF(price_change, 0), 4)
           AS family_adjusted_elasticity
FROM measured
WITH NO DATA;
CREATE UNIQUE INDEX price_change_impact_key ON price_change_impact (old_variation_id);
CREATE INDEX price_change_impact_changed_at ON price_change_impact (changed_at);
CALL store_twice('price_change_impact');

-- 11. How much attention does each product get, sold or not? lines = every cart line,
-- removed ones included; days_on_sale = days from the product's creation (or its first cart
-- line, if earlier; or the data's start, if later) to the last sale of the data, one at least
-- (NULL for a product that appears only after it);
-- lines_per_day = lines / days_on_sale, so a new product compares with an old one.
-- engagement_rank by lines per day, then lines, then quantity sold (1 = most engaged).
CREATE MATERIALIZED VIEW product_engagement AS
WITH on_sale AS (
    SELECT a.*,
           CASE WHEN LEAST(a.created_at, a.first_line_at) <= d.last_sale_at
                THEN GREATEST(extract(epoch FROM d.last_sale_at
                                      - GREATEST(LEAST(a.created_at, a.first_line_at),
                                                 d.first_sale_at)) / 86400, 1)
           END AS days_on_sale
    FROM product_activity a
    CROSS JOIN data_period d
)
SELECT product_id, name, sku, lines, removed_lines,
       round(CAST(removed_lines AS numeric) / NULLIF(lines, 0), 4) AS removal_rate,
       quantity, revenue, distinct_customers, round(days_on_sale, 2) AS days_on_sale,
       round(lines / days_on_sale, 4) AS lines_per_day,
       rank() OVER (ORDER BY lines / days_on_sale DESC NULLS LAST, lines DESC, quantity DESC)
           AS engagement_rank
FROM on_sale
WITH NO DATA;
CREATE UNIQUE INDEX product_engagement_key ON product_engagement (product_id);
CREATE INDEX product_engagement_rank ON product_engagement (engagement_rank);
CALL store_twice('product_engagement');

-- 12. How long after its creation does a product sell? Days as decimals; sales dated before
-- the product's creation are left out of first sale and averages and counted on their own.
CREATE MATERIALIZED VIEW time_to_purchase AS
SELECT product_id, name, created_at, first_sale_at,
       round(extract(epoch FROM first_sale_at - created_at) / 86400, 2) AS days_to_first_sale,
       round(avg_days_creation_to_sale, 2) AS avg_days_creation_to_sale,
       sales_before_creation
FROM product_activity
WITH NO DATA;
CREATE UNIQUE INDEX time_to_purchase_key ON time_to_purchase (product_id);
CALL store_twice('time_to_purchase');

-- 12b. The averages of question 12 over the products created inside the period the sales
-- cover: a product created before the first sale of the data measures when the data starts,
-- not how long the product took to sell.
CREATE VIEW time_to_purchase_summary AS
WITH period AS (
    SELECT first_sale_at AS period_start, last_sale_at AS period_end FROM data_period
)
SELECT p.period_start, p.period_end, count(t.product_id) AS products_created_in_period,
       count(t.first_sale_at) AS products_sold,
       round(avg(t.days_to_first_sale), 2) AS avg_days_to_first_sale,
       round(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.days_to_first_sale) AS numeric), 2)
           AS median_days_to_first_sale
FROM period p
LEFT JOIN time_to_purchase t ON t.created_at BETWEEN p.period_start AND p.period_end
GROUP BY p.period_start, p.period_end;

-- 12c. How the products created inside the period spread by days to their first sale.
CREATE VIEW time_to_purchase_distribution AS
WITH period AS (
    SELECT first_sale_at AS period_start, last_sale_at AS period_end FROM data_period
), bucketed AS (
    SELECT CASE WHEN t.days_to_first_sale IS NULL THEN 8
                WHEN t.days_to_first_sale < 1 THEN 1
                WHEN t.days_to_first_sale < 7 THEN 2
                WHEN t.days_to_first_sale < 30 THEN 3
                WHEN t.days_to_first_sale < 90 THEN 4
                WHEN t.days_to_first_sale < 180 THEN 5
                WHEN t.days_to_first_sale < 365 THEN 6
                ELSE 7 END AS bucket
    FROM period p
    JOIN time_to_purchase t ON t.created_at BETWEEN p.period_start AND p.period_end
)
SELECT b.bucket, b.label AS days_to_first_sale, count(x.bucket) AS products,
       round(count(x.bucket) / NULLIF(CAST(sum(count(x.bucket)) OVER () AS numeric), 0), 4)
           AS product_share
FROM (VALUES (1, 'under 1'), (2, '1 to 7'), (3, '7 to 30'), (4, '30 to 90'), (5, '90 to 180'),
             (6, '180 to 365'), (7, '365 or more'), (8, 'not sold yet')) AS b (bucket, label)
LEFT JOIN bucketed x ON x.bucket = b.bucket
GROUP BY b.bucket, b.label;

-- 13. Products to consider retiring, relative to the latest sale in the data: no sale in the
-- last N days (only products older than those N days: a new product has had no time), or
-- quantity in the latest 6 months below half of the 6 months before, when the 6 months before
-- sold at least min_quantity (6 units falling to 1 is noise). Reads product_activity (one row
-- per product, the half-years computed at refresh), so an answer never reads the cart lines.
-- revenue_at_risk: the product's revenue in the 12 months up to the latest sale.
CREATE FUNCTION end_of_life_candidates(days integer DEFAULT 180, min_quantity integer DEFAULT 10)
RETURNS TABLE (product_id bigint, name text, sku text, last_sale_at timestamp,
               days_since_last_sale numeric, quantity_previous_half bigint,
               quantity_recent_half bigint, reason text, revenue_at_risk numeric)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
BEGIN ATOMIC  -- so that pg_depend knows what it reads
    WITH latest AS (SELECT max(last_sale_at) AS at FROM product_activity)
    SELECT a.product_id, a.name, a.sku, a.last_sale_at,
           round(extract(epoch FROM l.at - a.last_sale_at) / 86400, 1),
           a.quantity_previous_half, a.quantity_recent_half,
           CASE WHEN a.last_sale_at IS NULL OR a.last_sale_at <= l.at - make_interval(days => days)
                THEN 'no sale in the last ' || days || ' days'
                ELSE 'sales fell by more than half' END,
           a.revenue_last_12_months
    FROM product_activity a
    CROSS JOIN latest l
    WHERE l.at IS NOT NULL
      AND (((a.last_sale_at IS NULL OR a.last_sale_at <= l.at - make_interval(days => days))
            AND a.created_at <= l.at - make_interval(days => days))
           OR (a.quantity_recent_half * 2 < a.quantity_previous_half
               AND a.quantity_previous_half >= min_quantity));
END;
CREATE VIEW end_of_life_candidates AS SELECT * FROM end_of_life_candidates(180, 10);

-- 13b. Customers with no purchase in the last N days (relative to the latest sale, that of
-- customer_purchase_summary), including customers who never bought; only customers who signed
-- up more than N days before (one who joined yesterday is not dormant). revenue_at_risk: the
-- customer's revenue in the 365 days up to their last purchase (what a year of them was worth).
CREATE FUNCTION dormant_customers(days integer DEFAULT 180)
RETURNS TABLE (customer_id bigint, name text, last_purchase_at timestamp,
               days_since_last_purchase numeric, purchases bigint, revenue_at_risk numeric)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
BEGIN ATOMIC  -- so that pg_depend knows what it reads
    WITH latest AS (SELECT max(last_purchase_at) AS at FROM customer_purchase_summary)
    SELECT c.customer_id, c.name, s.last_purchase_at,
           round(extract(epoch FROM l.at - s.last_purchase_at) / 86400, 1),
           COALESCE(s.purchases, 0), COALESCE(s.revenue_last_active_year, 0)
    FROM customer c
    CROSS JOIN latest l
    LEFT JOIN customer_purchase_summary s ON s.customer_id = c.customer_id
    WHERE l.at IS NOT NULL
      AND c.created_at <= l.at - make_interval(days => days)
      AND (s.last_purchase_at IS NULL OR s.last_purchase_at <= l.at - make_interval(days => days));
END;
CREATE VIEW dormant_customers AS SELECT * FROM dormant_customers(180);

-- 13c. What is at stake: how many products and customers each lifecycle rule finds, and the
-- revenue at risk (a product's revenue in the 12 months up to the latest sale; a dormant
-- customer's revenue in the 365 days up to their last purchase).
-- Materialized: counting dormant customers reads every customer (1.6 s at 10M lines).
CREATE MATERIALIZED VIEW lifecycle_summary AS
SELECT 'product' AS kind, reason, count(*) AS count, sum(revenue_at_risk) AS revenue_at_risk
FROM end_of_life_candidates
GROUP BY reason
UNION ALL
SELECT 'customer', 'no purchase in the last 180 days', count(*), COALESCE(sum(revenue_at_risk), 0)
FROM dormant_customers
WITH NO DATA;
CREATE UNIQUE INDEX lifecycle_summary_key ON lifecycle_summary (kind, reason);
CALL store_twice('lifecycle_summary');
