-- summarize_cart()'s step for the customers' segments (customer_summarized) and the sales per
-- segment (cohort_variation, tier_variation), in its transaction, after purchase is up to date.
-- rebuilt (a partition went, or nothing was summarized yet): all of them from every sale.
-- Otherwise the sales of sale_delta (the months that came, the other months' logged sales) are
-- added to their customers and, under the segments their customers had, to the segments' sums;
-- then the segments are computed again (value tiers rank every customer's lifetime revenue) and
-- a customer whose segment changed has its sales (its lines, in one join with cart) moved
-- from the old segment to the new one; when more than recompute_share of the buying customers
-- moved (NULL: never), the sums are computed again from every sale instead.
CREATE FUNCTION summarize_customer_segments(rebuilt boolean, recompute_share numeric)
RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
DECLARE
    moved bigint;
BEGIN
    IF rebuilt THEN
        TRUNCATE customer_summarized;
        INSERT INTO customer_summarized
        SELECT c.customer_id, CAST(extract(year FROM c.created_at) AS integer), 'none',
               COALESCE(l.sales, 0), COALESCE(l.revenue, 0)
        FROM customer c
        LEFT JOIN (SELECT customer_id, sum(lines) AS sales, sum(revenue) AS revenue
                   FROM purchase GROUP BY customer_id) l ON l.customer_id = c.customer_id;
    ELSE
        DELETE FROM customer_summarized s
        WHERE NOT EXISTS (SELECT 1 FROM customer c WHERE c.customer_id = s.customer_id);
        INSERT INTO customer_summarized
        SELECT c.customer_id, CAST(extract(year FROM c.created_at) AS integer), 'none', 0, 0
        FROM customer c
        WHERE NOT EXISTS (SELECT 1 FROM customer_summarized s
                          WHERE s.customer_id = c.customer_id);
        UPDATE customer_summarized s
        SET sales = s.sales + k.sales, lifetime_revenue = s.lifetime_revenue + k.revenue
        FROM (SELECT customer_id, sum(sign) AS sales, sum(sign * amount) AS revenue
              FROM sale_delta GROUP BY customer_id) k
        WHERE k.customer_id = s.customer_id;
        -- under the segments the sums hold each customer's sales in
        CREATE TEMPORARY TABLE segment_change ON COMMIT DROP AS
        SELECT s.cohort_year, s.value_tier, d.product_variation_id,
               min(d.product_id) AS product_id, sum(d.sign * d.quantity) AS quantity
        FROM sale_delta d
        JOIN customer_summarized s ON s.customer_id = d.customer_id
        GROUP BY s.cohort_year, s.value_tier, d.product_variation_id;
        INSERT INTO cohort_variation AS t
        SELECT cohort_year, product_variation_id, min(product_id), sum(quantity)
        FROM segment_change GROUP BY cohort_year, product_variation_id
        ON CONFLICT (cohort_year, product_variation_id)
        DO UPDATE SET quantity = t.quantity + excluded.quantity;
        INSERT INTO tier_variation AS t
        SELECT value_tier, product_variation_id, min(product_id), sum(quantity)
        FROM segment_change GROUP BY value_tier, product_variation_id
        ON CONFLICT (value_tier, product_variation_id)
        DO UPDATE SET quantity = t.quantity + excluded.quantity;
    END IF;
    -- the segments now (the segment view copies them)
    CREATE TEMPORARY TABLE segment_now ON COMMIT DROP AS
    SELECT s.customer_id, CAST(extract(year FROM c.created_at) AS integer) AS cohort_year,
           CASE WHEN s.sales = 0 THEN 'none'
                ELSE 'Q' || ntile(4) OVER (PARTITION BY s.sales = 0
                                           ORDER BY s.lifetime_revenue, s.customer_id)
           END AS value_tier
    FROM customer_summarized s
    JOIN customer c ON c.customer_id = s.customer_id;
    CREATE TEMPORARY TABLE segment_mover ON COMMIT DROP AS
    SELECT s.customer_id, s.cohort_year AS cohort_before, n.cohort_year,
           s.value_tier AS tier_before, n.value_tier, s.sales
    FROM customer_summarized s
    JOIN segment_now n ON n.customer_id = s.customer_id
    WHERE s.cohort_year <> n.cohort_year OR s.value_tier <> n.value_tier;
    moved := (SELECT count(*) FROM segment_mover WHERE sales > 0);
    UPDATE customer_summarized s SET cohort_year = m.cohort_year, value_tier = m.value_tier
    FROM segment_mover m
    WHERE m.customer_id = s.customer_id;
    IF rebuilt OR moved > recompute_share * (SELECT count(*) FROM customer_summarized
                                             WHERE sales > 0) THEN
        TRUNCATE cohort_variation, tier_variation;
        CREATE TEMPORARY TABLE segment_sale ON COMMIT DROP AS
        SELECT s.cohort_year, s.value_tier, c.product_variation_id,
               min(c.product_id) AS product_id, sum(c.quantity) AS quantity
        FROM cart c
        JOIN customer_summarized s ON s.customer_id = c.customer_id
        WHERE c.deleted_at IS NULL
        GROUP BY s.cohort_year, s.value_tier, c.product_variation_id;
        INSERT INTO cohort_variation
        SELECT cohort_year, product_variation_id, min(product_id), sum(quantity)
        FROM segment_sale GROUP BY cohort_year, product_variation_id;
        INSERT INTO tier_variation
        SELECT value_tier, product_variation_id, min(product_id), sum(quantity)
        FROM segment_sale GROUP BY value_tier, product_variation_id;
    ELSIF moved > 0 THEN
        -- each mover's sales out of its old segment (-) and into its new one (+); one join, so
        -- that the planner picks: a few movers by the index on cart (customer_id, created_at),
        -- thousands (the quartiles moved) by one pass over cart (an index probe per mover and
        -- month partition costs more than the pass)
        ANALYZE segment_mover;
        CREATE TEMPORARY TABLE mover_sale ON COMMIT DROP AS
        SELECT m.cohort_before, m.cohort_year, m.tier_before, m.value_tier,
               c.product_variation_id, min(c.product_id) AS product_id,
               sum(c.quantity) AS quantity
        FROM segment_mover m
        JOIN cart c ON c.customer_id = m.customer_id
        WHERE m.sales > 0 AND c.deleted_at IS NULL
        GROUP BY m.cohort_before, m.cohort_year, m.tier_before, m.value_tier,
                 c.product_variation_id;
        INSERT INTO cohort_variation AS t
        SELECT cohort_year, product_variation_id, min(product_id), sum(quantity)
        FROM (SELECT cohort_before AS cohort_year, product_variation_id, product_id,
                     -quantity AS quantity
              FROM mover_sale WHERE cohort_before <> cohort_year
              UNION ALL
              SELECT cohort_year, product_variation_id, product_id, quantity
              FROM mover_sale WHERE cohort_before <> cohort_year) d
        GROUP BY cohort_year, product_variation_id
        ON CONFLICT (cohort_year, product_variation_id)
        DO UPDATE SET quantity = t.quantity + excluded.quantity;
        INSERT INTO tier_variation AS t
        SELECT value_tier, product_variation_id, min(product_id), sum(quantity)
        FROM (SELECT tier_before AS value_tier, product_variation_id, product_id,
                     -quantity AS quantity
              FROM mover_sale WHERE tier_before <> value_tier
              UNION ALL
              SELECT value_tier, product_variation_id, product_id, quantity
              FROM mover_sale WHERE tier_before <> value_tier) d
        GROUP BY value_tier, product_variation_id
        ON CONFLICT (value_tier, product_variation_id)
        DO UPDATE SET quantity = t.quantity + excluded.quantity;
    END IF;
    DELETE FROM cohort_variation WHERE quantity = 0;
    DELETE FROM tier_variation WHERE quantity = 0;
END
$$;
