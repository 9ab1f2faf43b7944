-- overall_share: the variation's share of its family over all customers (the segments of one
-- type partition the buyers, so their sum is everybody); preference_index = quantity_share /
-- overall_share (above 1: the segment prefers it more than customers overall).
-- family_rank by the family's quantity (1 = the largest), for charts of the leading family.
CREATE MATERIALIZED VIEW variation_preference AS
WITH shares AS (
    SELECT r.*,
           r.quantity / sum(r.quantity) OVER (PARTITION BY segment_type, segment, sku) AS share,
           sum(r.quantity) OVER (PARTITION BY segment_type, sku, full_sku, product_id)
               / sum(r.quantity) OVER (PARTITION BY segment_type, sku) AS overall,
           sum(r.quantity) OVER (PARTITION BY segment_type, sku) AS family_quantity
    FROM variation_preference_rows() r
)
SELECT segment_type, segment, sku, full_sku, product_id, quantity,
       round(share, 4) AS quantity_share, round(overall, 4) AS overall_share,
       round(share / NULLIF(overall, 0), 4) AS preference_index,
       dense_rank() OVER (PARTITION BY segment_type ORDER BY family_quantity DESC, sku)
           AS family_rank
FROM shares
WITH NO DATA;
CREATE UNIQUE INDEX variation_preference_key
    ON variation_preference (segment_type, segment, product_id, full_sku);
CALL store_twice('variation_preference');
