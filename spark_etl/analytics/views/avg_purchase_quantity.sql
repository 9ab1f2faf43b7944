-- One row: the average over customers with a sale of their quantity and revenue per purchase,
-- and the overall quantity and revenue per purchase (every purchase weighs the same).
CREATE VIEW avg_purchase_quantity AS
SELECT count(*) AS customers,
       round(avg(CAST(quantity AS numeric) / purchases), 2) AS avg_purchase_quantity,
       round(CAST(sum(quantity) AS numeric) / NULLIF(sum(purchases), 0), 2)
           AS overall_quantity_per_purchase,
       round(avg(revenue / purchases), 2) AS avg_basket_value,
       round(sum(revenue) / NULLIF(sum(purchases), 0), 2) AS overall_basket_value
FROM customer_purchase_summary;
