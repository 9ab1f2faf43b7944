CREATE MATERIALIZED VIEW product_activity AS
SELECT * FROM product_activity_rows()
WITH NO DATA;
CREATE UNIQUE INDEX product_activity_key ON product_activity (product_id);
CALL store_twice('product_activity');
