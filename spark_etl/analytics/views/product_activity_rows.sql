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
