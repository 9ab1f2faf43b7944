-- 9. Which variations lead each family? A variation here is a product's full SKU, its price
-- versions (product_variation rows) summed: a repricing does not split it in two. Ranked by
-- quantity within the family. From the monthly sales per price version.
CREATE MATERIALIZED VIEW top_variations_by_category AS
WITH per_version AS (
    SELECT product_id, product_variation_id, sum(quantity) AS quantity, sum(revenue) AS revenue
    FROM product_sales_monthly GROUP BY 1, 2
), per_sku AS (
    SELECT p.sku, v.full_sku, v.product_id, max(v.variation) AS variation,
           CAST(sum(s.quantity) AS bigint) AS quantity, sum(s.revenue) AS revenue,
           count(*) AS price_versions
    FROM per_version s
    JOIN product_variation v ON v.product_variation_id = s.product_variation_id
    JOIN product p ON p.product_id = v.product_id
    GROUP BY p.sku, v.full_sku, v.product_id
)
SELECT sku, full_sku, product_id, variation, quantity, revenue, price_versions,
       rank() OVER (PARTITION BY sku ORDER BY quantity DESC) AS rank_in_category
FROM per_sku
WITH NO DATA;
CREATE UNIQUE INDEX top_variations_by_category_key ON top_variations_by_category (product_id, full_sku);
CREATE INDEX top_variations_by_category_rank ON top_variations_by_category (sku, rank_in_category);
CALL store_twice('top_variations_by_category');
