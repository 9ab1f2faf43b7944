CREATE VIEW product_sales_monthly AS
SELECT month, product_id, product_variation_id, quantity, revenue FROM product_sales_month;
