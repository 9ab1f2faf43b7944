-- Merges from the staging tables into the model, run by spark_etl.database inside one
-- transaction per job. Loaded with aiosql: a name ending in ^ returns one row, $ one value.
-- Unchanged rows are never rewritten, so a re-run on the same input changes nothing.

-- name: merge_customers()^
WITH upserted AS (
    INSERT INTO customer AS c (customer_id, name, created_at)
    SELECT customer_id, name, created_at FROM stage_customer
    ON CONFLICT (customer_id) DO UPDATE
        SET name = EXCLUDED.name, created_at = EXCLUDED.created_at
        WHERE (c.name, c.created_at) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.created_at)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM upserted;

-- name: product_changes()^
-- Read before the merge: how many staged products are new, and how many differ from the model
-- (name, family or creation time, or price or full SKU of the current variation).
SELECT count(*) FILTER (WHERE p.product_id IS NULL) AS inserted,
       count(*) FILTER (WHERE p.product_id IS NOT NULL AND (
           (p.name, p.sku, p.created_at) IS DISTINCT FROM (s.name, s.sku, s.created_at)
           OR (v.full_sku, v.price) IS DISTINCT FROM (s.full_sku, s.price))) AS updated
FROM stage_product s
LEFT JOIN product p ON p.product_id = s.product_id
LEFT JOIN product_variation v ON v.product_id = s.product_id AND v.is_current;

-- name: merge_products()^
WITH upserted AS (
    INSERT INTO product AS p (product_id, name, sku, created_at)
    SELECT product_id, name, sku, created_at FROM stage_product
    ON CONFLICT (product_id) DO UPDATE
        SET name = EXCLUDED.name, sku = EXCLUDED.sku, created_at = EXCLUDED.created_at
        WHERE (p.name, p.sku, p.created_at)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.sku, EXCLUDED.created_at)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM upserted;

-- name: replace_same_instant_variations(as_of)$
-- A change in force from the moment the current variation opened (a second load with the same
-- as-of, or an as-of before it opened): closing it would leave a zero-length [T, T) variation,
-- so the change replaces the current variation's price and SKU in place instead.
WITH replaced AS (
    UPDATE product_variation v
    SET variation = s.variation, full_sku = s.full_sku, price = s.price
    FROM stage_product s
    WHERE v.product_id = s.product_id AND v.is_current
      AND v.valid_from >= CAST(:as_of AS timestamp)
      AND (v.full_sku, v.price) IS DISTINCT FROM (s.full_sku, s.price)
    RETURNING 1
)
SELECT count(*) FROM replaced;

-- name: close_changed_variations(as_of)$
-- A product whose price or full SKU differs from its current variation: close that variation
-- at the run's as-of time (replace_same_instant_variations has taken the changes in force from
-- the moment their variation opened, so every closed interval is non-empty).
WITH changed AS (
    SELECT v.product_variation_id, CAST(:as_of AS timestamp) AS closed_at
    FROM stage_product s
    JOIN product_variation v ON v.product_id = s.product_id AND v.is_current
    WHERE (v.full_sku, v.price) IS DISTINCT FROM (s.full_sku, s.price)
      AND v.valid_from < CAST(:as_of AS timestamp)
), closed AS (
    UPDATE product_variation v
    SET valid_to = changed.closed_at, is_current = false
    FROM changed
    WHERE v.product_variation_id = changed.product_variation_id
    RETURNING 1
)
SELECT count(*) FROM closed;

-- name: open_new_variations()$
-- Every staged product without a current variation gets one: a new product from its creation
-- time, a changed one from the moment its previous variation closed. Keys continue the
-- existing sequence in product id order, so the same input always gets the same keys.
WITH opened AS (
    INSERT INTO product_variation
        (product_variation_id, product_id, variation, full_sku, price, valid_from, valid_to, is_current)
    SELECT (SELECT COALESCE(max(product_variation_id), 0) FROM product_variation)
               + row_number() OVER (ORDER BY s.product_id),
           s.product_id, s.variation, s.full_sku, s.price,
           COALESCE(previous.closed_at, s.created_at), NULL, true
    FROM stage_product s
    LEFT JOIN LATERAL (
        SELECT max(v.valid_to) AS closed_at FROM product_variation v WHERE v.product_id = s.product_id
    ) previous ON true
    WHERE NOT EXISTS (
        SELECT 1 FROM product_variation v WHERE v.product_id = s.product_id AND v.is_current
    )
    RETURNING 1
)
SELECT count(*) FROM opened;

-- name: remove_moved_cart_lines()$
-- cart_id is unique in the model, but the partitioned table's key also holds created_at and
-- customer_id: a line whose creation time or customer changed is removed before it is re-inserted.
WITH moved AS (
    DELETE FROM cart c
    USING stage_cart s
    WHERE c.cart_id = s.cart_id
      AND (c.created_at, c.customer_id) IS DISTINCT FROM (s.created_at, s.customer_id)
    RETURNING 1
)
SELECT count(*) FROM moved;

-- name: cart_changes()^
-- Read before the merge: staged lines that are new, and lines that differ from the model.
SELECT count(*) FILTER (WHERE c.cart_id IS NULL) AS inserted,
       count(*) FILTER (WHERE c.cart_id IS NOT NULL AND (
           c.product_variation_id, c.product_id, c.customer_id, c.quantity, c.unit_price, c.amount,
           c.created_at, c.deleted_at)
           IS DISTINCT FROM (s.product_variation_id, s.product_id, s.customer_id, s.quantity,
           s.unit_price, s.amount, s.created_at, s.deleted_at)) AS updated
FROM stage_cart s
LEFT JOIN cart c ON c.cart_id = s.cart_id;

-- name: merge_carts(new_months)$
-- Lines of months that already have a partition (new months are bulk-loaded before);
-- sorted by the partition key, so each leaf partition receives its rows together.
WITH upserted AS (
    INSERT INTO cart AS c
        (cart_id, product_variation_id, product_id, customer_id, quantity, unit_price, amount,
         created_at, deleted_at)
    SELECT cart_id, product_variation_id, product_id, customer_id, quantity, unit_price, amount,
           created_at, deleted_at
    FROM stage_cart
    WHERE CAST(date_trunc('month', created_at) AS date) <> ALL (CAST(:new_months AS date[]))
    ORDER BY created_at, customer_id
    ON CONFLICT (cart_id, created_at, customer_id) DO UPDATE
        SET product_variation_id = EXCLUDED.product_variation_id,
            product_id = EXCLUDED.product_id,
            quantity = EXCLUDED.quantity,
            unit_price = EXCLUDED.unit_price,
            amount = EXCLUDED.amount,
            deleted_at = EXCLUDED.deleted_at
        WHERE (c.product_variation_id, c.product_id, c.quantity, c.unit_price, c.amount, c.deleted_at)
              IS DISTINCT FROM (EXCLUDED.product_variation_id, EXCLUDED.product_id, EXCLUDED.quantity,
                                EXCLUDED.unit_price, EXCLUDED.amount, EXCLUDED.deleted_at)
    RETURNING 1
)
SELECT count(*) FROM upserted;

-- name: months_to_partition()
-- The months the staged cart lines fall in; each needs its partition before the merge.
SELECT DISTINCT CAST(date_trunc('month', created_at) AS date) AS month
FROM stage_cart
ORDER BY month;

-- name: flag_products(run_id, job)$
-- Soft anomaly, loaded as is: a full SKU shared by two product ids.
WITH flagged AS (
    INSERT INTO etl_flag (run_id, job, record_id, flag)
    SELECT CAST(:run_id AS uuid), :job, s.product_id, 'full_sku shared with another product'
    FROM stage_product s
    WHERE EXISTS (
        SELECT 1 FROM product_variation v
        WHERE v.is_current AND v.full_sku = s.full_sku AND v.product_id <> s.product_id
    )
    RETURNING record_id
)
SELECT count(DISTINCT record_id) FROM flagged;

-- name: flag_carts(run_id, job)$
-- Soft anomalies, loaded as is: removal before creation, lines older than their product or customer.
WITH anomalies AS (
    SELECT s.cart_id,
           unnest(array_remove(ARRAY[
               CASE WHEN s.deleted_at < s.created_at THEN 'deleted before created' END,
               CASE WHEN s.created_at < p.created_at THEN 'created before its product' END,
               CASE WHEN s.created_at < c.created_at THEN 'created before its customer' END
           ], NULL)) AS flag
    FROM stage_cart s
    JOIN product p ON p.product_id = s.product_id
    JOIN customer c ON c.customer_id = s.customer_id
), flagged AS (
    INSERT INTO etl_flag (run_id, job, record_id, flag)
    SELECT CAST(:run_id AS uuid), :job, cart_id, flag FROM anomalies
    RETURNING record_id
)
SELECT count(DISTINCT record_id) FROM flagged;
