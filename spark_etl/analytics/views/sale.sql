CREATE VIEW sale AS
SELECT c.cart_id, c.customer_id, c.product_id, c.product_variation_id, p.sku,
       c.quantity, c.amount, c.created_at, CAST(c.created_at AS date) AS sale_day
FROM cart c
JOIN product p ON p.product_id = c.product_id
WHERE c.deleted_at IS NULL;
