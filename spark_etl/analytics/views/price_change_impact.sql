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
