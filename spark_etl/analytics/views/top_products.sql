-- 1. Which products sell most, by quantity and by revenue, and how concentrated is revenue?
CREATE MATERIALIZED VIEW top_products AS
SELECT product_id, name, sku, quantity, revenue,
       rank() OVER (ORDER BY quantity DESC) AS rank_by_quantity,
       rank() OVER (ORDER BY revenue DESC) AS rank_by_revenue,
       round(revenue / NULLIF(sum(revenue) OVER (), 0), 4) AS revenue_share,
       -- Pareto: the share of all revenue of this product and every one before it by revenue
       round(sum(revenue) OVER (ORDER BY revenue DESC, product_id ROWS UNBOUNDED PRECEDING)
             / NULLIF(sum(revenue) OVER (), 0), 4) AS cumulative_revenue_share
FROM product_activity
WHERE sales > 0
WITH NO DATA;
CREATE UNIQUE INDEX top_products_key ON top_products (product_id);
CREATE INDEX top_products_by_quantity ON top_products (rank_by_quantity);
CREATE INDEX top_products_by_revenue ON top_products (rank_by_revenue);
CALL store_twice('top_products');
