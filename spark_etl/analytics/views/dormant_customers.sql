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
