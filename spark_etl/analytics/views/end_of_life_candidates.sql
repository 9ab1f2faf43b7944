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
