-- 12c. How the products created inside the period spread by days to their first sale.
CREATE VIEW time_to_purchase_distribution AS
WITH period AS (
    SELECT first_sale_at AS period_start, last_sale_at AS period_end FROM data_period
), bucketed AS (
    SELECT CASE WHEN t.days_to_first_sale IS NULL THEN 8
                WHEN t.days_to_first_sale < 1 THEN 1
                WHEN t.days_to_first_sale < 7 THEN 2
                WHEN t.days_to_first_sale < 30 THEN 3
                WHEN t.days_to_first_sale < 90 THEN 4
                WHEN t.days_to_first_sale < 180 THEN 5
                WHEN t.days_to_first_sale < 365 THEN 6
                ELSE 7 END AS bucket
    FROM period p
    JOIN time_to_purchase t ON t.created_at BETWEEN p.period_start AND p.period_end
)
SELECT b.bucket, b.label AS days_to_first_sale, count(x.bucket) AS products,
       round(count(x.bucket) / NULLIF(CAST(sum(count(x.bucket)) OVER () AS numeric), 0), 4)
           AS product_share
FROM (VALUES (1, 'under 1'), (2, '1 to 7'), (3, '7 to 30'), (4, '30 to 90'), (5, '90 to 180'),
             (6, '180 to 365'), (7, '365 or more'), (8, 'not sold yet')) AS b (bucket, label)
LEFT JOIN bucketed x ON x.bucket = b.bucket
GROUP BY b.bucket, b.label;
