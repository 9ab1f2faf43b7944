-- 2b. Each product family (product.sku) month by month, from its launch (its first product's
-- creation, or the data's first month if later; or its first sale where a sale predates the
-- launch) to the data's last month, months without sales as zeros; partial as in monthly_kpi;
-- revenue against the month before and the same month a year before (ratio - 1), left out
-- (NULL) when that month is partial: the data's first or last month, or the family's launch
-- month when it launched after the month's first day (a growth against a few days of sales
-- would read +2,600%), or is not in the data (archived);
-- family_rank by revenue over the whole period (1 = the largest family), so that a chart can
-- take the leading families without reading them all.
--
-- Kept per key rather than recomputed (20,000 families x 60 months at 10M lines: 15-18 s to
-- recompute, for a night that changed a month): keep_family_sales() rewrites the rows of the
-- families whose products changed and of the months whose sales or period changed, and the
-- rows that compare with those (a month and a year later). The rank is kept in family_total, a
-- row per family, and joined on read: a rank stored on every row would move most of them.

-- a row per family and month; short: partial, or the family's launch month when it launched
-- after the month's first day (what a comparison with the month leaves out)
CREATE TABLE family_sales_row (
    sku text NOT NULL,
    month date NOT NULL,
    partial boolean NOT NULL,
    short boolean NOT NULL,
    quantity bigint NOT NULL,
    revenue numeric NOT NULL,
    revenue_change_mom numeric,
    revenue_change_yoy numeric
);
CREATE UNIQUE INDEX family_sales_row_key ON family_sales_row (sku, month);
CREATE INDEX family_sales_row_month ON family_sales_row (month);
-- a row per family with a sale: the launch and first month its rows were computed with, its
-- revenue over every month, and its rank by that revenue
CREATE TABLE family_total (
    sku text PRIMARY KEY,
    launched_at timestamp NOT NULL,
    first_month date NOT NULL,
    revenue numeric NOT NULL,
    family_rank bigint
);
CREATE INDEX family_total_rank ON family_total (family_rank);
-- the family of each product, and the months and their partial flag (monthly_kpi's), that the
-- rows were computed with
CREATE TABLE family_product (
    product_id bigint PRIMARY KEY,
    sku text NOT NULL
);
CREATE TABLE family_period (
    month date PRIMARY KEY,
    partial boolean NOT NULL
);

CREATE VIEW family_sales_monthly AS
SELECT r.sku, r.month, r.partial, r.quantity, r.revenue, r.revenue_change_mom,
       r.revenue_change_yoy, t.family_rank
FROM family_sales_row r
JOIN family_total t ON t.sku = r.sku;

-- Bring family_sales_row and family_total up to date with the products, product_sales_month
-- (the months sales_month_changed lists) and the period (data_period, monthly_kpi). Every
-- family recomputed on rebuild, or when more than recompute_share of the months or of the
-- families would be (NULL: never). Returns the families recomputed whole, the months
-- recomputed for every family, and the rows written.
CREATE FUNCTION keep_family_sales(rebuild boolean, recompute_share numeric,
                                  OUT families_recomputed bigint,
                                  OUT months_recomputed bigint, OUT rows_written bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET jit = off
AS $$
DECLARE
    every_family boolean;
    indexes text[];
BEGIN
    -- every family with a sale: its launch, and its first month (its first sale by a probe of
    -- product_sales_month's index per product)
    CREATE TEMPORARY TABLE family_now ON COMMIT DROP AS
    SELECT p.sku, min(p.created_at) AS launched_at,
           LEAST(min(s.month),
                 GREATEST(d.first_month, CAST(date_trunc('month', min(p.created_at)) AS date)))
               AS first_month
    FROM product p
    LEFT JOIN LATERAL (SELECT s.month FROM product_sales_month s
                       WHERE s.product_id = p.product_id
                       ORDER BY s.month LIMIT 1) s ON true
    CROSS JOIN data_period d
    GROUP BY p.sku, d.first_month
    HAVING min(s.month) IS NOT NULL;
    -- recomputed whole: the families that came or went, launched or start otherwise, or that a
    -- product left or joined
    CREATE TEMPORARY TABLE family_dirty ON COMMIT DROP AS
    SELECT COALESCE(n.sku, t.sku) AS sku
    FROM family_now n
    FULL JOIN family_total t ON t.sku = n.sku
    WHERE rebuild OR n.sku IS NULL OR t.sku IS NULL OR n.launched_at <> t.launched_at
       OR n.first_month <> t.first_month
    UNION
    SELECT moved.sku
    FROM family_product f
    JOIN product p ON p.product_id = f.product_id AND p.sku <> f.sku
    CROSS JOIN LATERAL (VALUES (f.sku), (p.sku)) AS moved (sku);
    -- recomputed for every family: the months whose sales changed, and those that came, went
    -- or became whole or partial
    CREATE TEMPORARY TABLE month_dirty ON COMMIT DROP AS
    SELECT month FROM sales_month_changed
    UNION
    SELECT COALESCE(k.month, f.month)
    FROM monthly_kpi k
    FULL JOIN family_period f ON f.month = k.month
    WHERE k.month IS NULL OR f.month IS NULL OR k.partial <> f.partial;
    ANALYZE family_dirty;
    ANALYZE month_dirty;
    every_family := NOT EXISTS (SELECT 1 FROM family_now n
                                WHERE n.sku NOT IN (SELECT sku FROM family_dirty))
        -- (a NULL share: never)
        OR COALESCE((SELECT count(*) FROM month_dirty)
                    > recompute_share * (SELECT count(*) FROM monthly_kpi)
                    OR (SELECT count(*) FROM family_dirty)
                    > recompute_share * (SELECT count(*) FROM family_now), false);
    families_recomputed := CASE WHEN every_family THEN (SELECT count(*) FROM family_now)
                                ELSE (SELECT count(*) FROM family_dirty) END;
    months_recomputed := CASE WHEN every_family THEN 0 ELSE (SELECT count(*) FROM month_dirty) END;

    -- the sales of the rows recomputed, per family and month
    IF every_family THEN
        CREATE TEMPORARY TABLE family_sold ON COMMIT DROP AS
        SELECT p.sku, s.month, sum(s.quantity) AS quantity, sum(s.revenue) AS revenue
        FROM product_sales_month s
        JOIN product p ON p.product_id = s.product_id
        GROUP BY 1, 2;
    ELSE
        -- (two lookups by index, rather than one scan testing either)
        CREATE TEMPORARY TABLE family_sold ON COMMIT DROP AS
        SELECT sku, month, sum(quantity) AS quantity, sum(revenue) AS revenue
        FROM (SELECT s.month, s.product_variation_id, p.sku, s.quantity, s.revenue
              FROM product_sales_month s
              JOIN product p ON p.product_id = s.product_id
              WHERE s.month IN (SELECT month FROM month_dirty)
              UNION
              SELECT s.month, s.product_variation_id, p.sku, s.quantity, s.revenue
              FROM family_dirty d
              JOIN product p ON p.sku = d.sku
              JOIN product_sales_month s ON s.product_id = p.product_id) sold
        GROUP BY 1, 2;
    END IF;
    -- the rows recomputed: every month of a dirty family, the dirty months of the others
    CREATE TEMPORARY TABLE family_base ON COMMIT DROP AS
    SELECT n.sku, CAST(m.month AS date) AS month, k.partial,
           k.partial OR (m.month = n.first_month AND n.launched_at > m.month) AS short,
           CAST(COALESCE(s.quantity, 0) AS bigint) AS quantity, COALESCE(s.revenue, 0) AS revenue
    FROM family_now n
    CROSS JOIN data_period d
    CROSS JOIN generate_series(CAST(n.first_month AS timestamp), CAST(d.last_month AS timestamp),
                               interval '1 month') AS m (month)
    JOIN monthly_kpi k ON k.month = CAST(m.month AS date)
    LEFT JOIN family_sold s ON s.sku = n.sku AND s.month = CAST(m.month AS date)
    WHERE every_family OR n.sku IN (SELECT sku FROM family_dirty)
       OR k.month IN (SELECT month FROM month_dirty);
    ANALYZE family_base;
    -- and the rows that compare with them: a month and a year after a recomputed month
    CREATE TEMPORARY TABLE family_target ON COMMIT DROP AS
    SELECT sku, month, partial, short, quantity, revenue FROM family_base
    UNION ALL
    SELECT r.sku, r.month, r.partial, r.short, r.quantity, r.revenue
    FROM family_sales_row r
    WHERE NOT every_family
      AND r.month IN (SELECT CAST(d.month + step.after AS date)
                      FROM month_dirty d
                      CROSS JOIN (VALUES (interval '1 month'), (interval '12 months'))
                          AS step (after))
      AND r.month NOT IN (SELECT month FROM month_dirty)
      AND r.sku NOT IN (SELECT sku FROM family_dirty);
    -- their comparisons, with the month before and a year before as recomputed, or as stored
    CREATE TEMPORARY TABLE family_written ON COMMIT DROP AS
    WITH compared AS (
        SELECT sku, month, short, revenue FROM family_base
        UNION ALL
        SELECT r.sku, r.month, r.short, r.revenue
        FROM family_sales_row r
        WHERE NOT every_family
          AND r.month IN (SELECT CAST(t.month - step.before AS date)
                          FROM (SELECT DISTINCT month FROM family_target) t
                          CROSS JOIN (VALUES (interval '1 month'), (interval '12 months'))
                              AS step (before))
          AND r.month NOT IN (SELECT month FROM month_dirty)
          AND r.sku NOT IN (SELECT sku FROM family_dirty)
    )
    SELECT t.sku, t.month, t.partial, t.short, t.quantity, t.revenue,
           CASE WHEN NOT prev.short
                THEN round(t.revenue / NULLIF(prev.revenue, 0) - 1, 4) END AS revenue_change_mom,
           CASE WHEN NOT year_before.short
                THEN round(t.revenue / NULLIF(year_before.revenue, 0) - 1, 4)
           END AS revenue_change_yoy
    FROM family_target t
    LEFT JOIN compared prev
      ON prev.sku = t.sku AND prev.month = CAST(t.month - interval '1 month' AS date)
    LEFT JOIN compared year_before
      ON year_before.sku = t.sku AND year_before.month = CAST(t.month - interval '12 months' AS date);

    -- the rows replaced (and those no longer wanted), their revenue taken off their totals
    CREATE TEMPORARY TABLE family_removed (sku text, revenue numeric) ON COMMIT DROP;
    IF every_family AND (rebuild OR NOT EXISTS (SELECT 1 FROM family_total)) THEN
        -- refilled (readers wait for no refill but a rebuild's)
        INSERT INTO family_removed SELECT sku, revenue FROM family_sales_row;
        indexes := empty_for_refill('family_sales_row');
    ELSIF every_family THEN
        WITH gone AS (DELETE FROM family_sales_row RETURNING sku, revenue)
        INSERT INTO family_removed SELECT * FROM gone;
    ELSE
        WITH gone AS (DELETE FROM family_sales_row r USING family_dirty d WHERE r.sku = d.sku
                      RETURNING r.sku, r.revenue)
        INSERT INTO family_removed SELECT * FROM gone;
        WITH gone AS (DELETE FROM family_sales_row r USING month_dirty d WHERE r.month = d.month
                      RETURNING r.sku, r.revenue)
        INSERT INTO family_removed SELECT * FROM gone;
        WITH gone AS (DELETE FROM family_sales_row r USING family_target t
                      WHERE r.sku = t.sku AND r.month = t.month
                      RETURNING r.sku, r.revenue)
        INSERT INTO family_removed SELECT * FROM gone;
    END IF;
    INSERT INTO family_sales_row
    SELECT * FROM family_written ORDER BY sku, month;
    PERFORM build_indexes(COALESCE(indexes, '{}'));
    rows_written := (SELECT count(*) FROM family_written);

    -- the totals: moved by what each family's rows lost and gained; the ranks that moved
    DELETE FROM family_total t WHERE NOT EXISTS (SELECT 1 FROM family_now n WHERE n.sku = t.sku);
    INSERT INTO family_total AS t (sku, launched_at, first_month, revenue)
    SELECT sku, launched_at, first_month, 0 FROM family_now
    ON CONFLICT (sku) DO UPDATE
    SET launched_at = excluded.launched_at, first_month = excluded.first_month
    WHERE (t.launched_at, t.first_month) <> (excluded.launched_at, excluded.first_month);
    UPDATE family_total t SET revenue = t.revenue + c.revenue
    FROM (SELECT sku, sum(revenue) AS revenue
          FROM (SELECT sku, revenue FROM family_written
                UNION ALL
                SELECT sku, -revenue FROM family_removed) moved
          GROUP BY sku) c
    WHERE c.sku = t.sku AND c.revenue <> 0;
    UPDATE family_total t SET family_rank = r.family_rank
    FROM (SELECT sku, dense_rank() OVER (ORDER BY revenue DESC, sku) AS family_rank
          FROM family_total) r
    WHERE r.sku = t.sku AND t.family_rank IS DISTINCT FROM r.family_rank;

    -- what the rows were computed with
    DELETE FROM family_product f
    WHERE NOT EXISTS (SELECT 1 FROM product p WHERE p.product_id = f.product_id);
    INSERT INTO family_product AS f
    SELECT product_id, sku FROM product
    ON CONFLICT (product_id) DO UPDATE SET sku = excluded.sku WHERE f.sku <> excluded.sku;
    DELETE FROM family_period;
    INSERT INTO family_period SELECT month, partial FROM monthly_kpi;
END
$$;
