-- Everything known per product (every product, sold or not): the input of top_products,
-- product_engagement, time_to_purchase and end_of_life_candidates. Read from the sums
-- summarize_cart() keeps (product_month, product_buyer), not from every cart line. lines and
-- removed_lines count every cart line; the rest counts sales only. first_sale_at,
-- avg_days_creation_to_sale and sales_before_creation compare sales with the product's
-- created_at (as in time_to_purchase). The two half-years are relative to the latest sale at
-- refresh time: (latest - 12 months, latest - 6 months] and after; a month wholly inside one
-- is summed from product_month, and the two months their starts cut through are read from
-- cart (two months' lines: the partitions of the other months are not scanned).
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
-- BEGIN ATOMIC: PostgreSQL records that it reads product_month, so the refresh runs it after
-- summarize_cart()
BEGIN ATOMIC
    WITH latest AS (SELECT max(last_sale_at) AS at FROM product_month),
    bound AS (
        SELECT at - interval '12 months' AS year_ago, at - interval '6 months' AS half_ago,
               CAST(date_trunc('month', at - interval '12 months') AS date) AS year_month,
               CAST(date_trunc('month', at - interval '6 months') AS date) AS half_month
        FROM latest
    ), summed AS (
        SELECT m.product_id, sum(m.lines) AS lines, sum(m.removed_lines) AS removed_lines,
               sum(m.sales) AS sales, sum(m.quantity) AS quantity, sum(m.revenue) AS revenue,
               min(m.first_sale_after_creation) AS first_sale_at,
               sum(m.seconds_after_creation) AS seconds_after,
               sum(m.sales_after_creation) AS sales_after,
               max(m.last_sale_at) AS last_sale_at,
               sum(m.quantity) FILTER (WHERE m.month > (SELECT year_month FROM bound)
                                         AND m.month < (SELECT half_month FROM bound))
                   AS previous_half,
               sum(m.quantity) FILTER (WHERE m.month > (SELECT half_month FROM bound))
                   AS recent_half,
               sum(m.revenue) FILTER (WHERE m.month > (SELECT year_month FROM bound))
                   AS revenue_last_12_months,
               min(m.first_line_at) AS first_line_at
        FROM product_month m
        GROUP BY m.product_id
    ), cut AS (
        -- the sales of the two months cut by a half-year's start (bounds as scalar subqueries,
        -- known when the query runs: only those months' partitions are read)
        SELECT c.product_id,
               sum(c.quantity) FILTER (WHERE c.created_at > (SELECT year_ago FROM bound)
                                         AND c.created_at <= (SELECT half_ago FROM bound))
                   AS previous_half,
               sum(c.quantity) FILTER (WHERE c.created_at > (SELECT half_ago FROM bound))
                   AS recent_half,
               sum(c.amount) FILTER (WHERE c.created_at > (SELECT year_ago FROM bound)
                                       AND c.created_at < (SELECT half_month FROM bound))
                   AS revenue_last_12_months
        FROM cart c
        WHERE c.deleted_at IS NULL
          AND ((c.created_at >= (SELECT year_month FROM bound)
                AND c.created_at < (SELECT year_month FROM bound) + interval '1 month')
               OR (c.created_at >= (SELECT half_month FROM bound)
                   AND c.created_at < (SELECT half_month FROM bound) + interval '1 month'))
        GROUP BY c.product_id
    ), buyers AS (
        SELECT b.product_id, count(*) AS customers FROM product_buyer b GROUP BY b.product_id
    )
    SELECT p.product_id, p.name, p.sku, p.created_at, CAST(COALESCE(s.lines, 0) AS bigint),
           CAST(COALESCE(s.removed_lines, 0) AS bigint), CAST(COALESCE(s.sales, 0) AS bigint),
           CAST(COALESCE(s.quantity, 0) AS bigint), COALESCE(s.revenue, 0),
           COALESCE(b.customers, 0), s.first_sale_at,
           s.seconds_after / (NULLIF(s.sales_after, 0) * 86400),
           CAST(COALESCE(s.sales - s.sales_after, 0) AS bigint), s.last_sale_at,
           CAST(COALESCE(s.previous_half, 0) + COALESCE(t.previous_half, 0) AS bigint),
           CAST(COALESCE(s.recent_half, 0) + COALESCE(t.recent_half, 0) AS bigint),
           COALESCE(s.revenue_last_12_months, 0) + COALESCE(t.revenue_last_12_months, 0),
           s.first_line_at
    FROM product p
    LEFT JOIN summed s ON s.product_id = p.product_id
    LEFT JOIN cut t ON t.product_id = p.product_id
    LEFT JOIN buyers b ON b.product_id = p.product_id;
END;
