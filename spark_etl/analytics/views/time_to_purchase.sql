-- 12. How long after its creation does a product sell? Days as decimals; sales dated before
-- the product's creation are left out of first sale and averages and counted on their own.
CREATE MATERIALIZED VIEW time_to_purchase AS
SELECT product_id, name, created_at, first_sale_at,
       round(extract(epoch FROM first_sale_at - created_at) / 86400, 2) AS days_to_first_sale,
       round(avg_days_creation_to_sale, 2) AS avg_days_creation_to_sale,
       sales_before_creation
FROM product_activity
WITH NO DATA;
CREATE UNIQUE INDEX time_to_purchase_key ON time_to_purchase (product_id);
CALL store_twice('time_to_purchase');
