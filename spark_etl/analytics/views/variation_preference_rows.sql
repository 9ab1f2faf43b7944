-- 7. Which variations (a product's full SKU, its price versions summed) does each segment
-- prefer within a family? quantity_share = the
-- variation's quantity / the family's quantity, within the segment. Read from the sums per
-- cohort and per value tier that summarize_cart() keeps (cohort_variation, tier_variation),
-- not from every cart line.
CREATE FUNCTION variation_preference_rows()
RETURNS TABLE (segment_type text, segment text, sku text, full_sku text, product_id bigint,
               quantity numeric)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
-- BEGIN ATOMIC, not a string body: PostgreSQL then records what the function reads
-- (pg_depend), which orders the refresh.
BEGIN ATOMIC
    SELECT 'cohort_year', CAST(g.cohort_year AS text), p.sku, v.full_sku, g.product_id,
           sum(g.quantity)
    FROM cohort_variation g
    JOIN product p ON p.product_id = g.product_id
    JOIN product_variation v ON v.product_variation_id = g.product_variation_id
    GROUP BY g.cohort_year, p.sku, v.full_sku, g.product_id
    UNION ALL
    SELECT 'value_tier', g.value_tier, p.sku, v.full_sku, g.product_id, sum(g.quantity)
    FROM tier_variation g
    JOIN product p ON p.product_id = g.product_id
    JOIN product_variation v ON v.product_variation_id = g.product_variation_id
    GROUP BY g.value_tier, p.sku, v.full_sku, g.product_id;
END;
