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
