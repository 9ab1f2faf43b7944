-- 3b. How big are baskets? Purchases per cart size (items; 10 and more together), their share
-- of all purchases and of revenue, and their average value.
CREATE MATERIALIZED VIEW basket_size_distribution AS
SELECT LEAST(cart_size, 10) AS cart_size, CASE WHEN cart_size >= 10 THEN '10+'
                                               ELSE CAST(cart_size AS text) END AS items,
       count(*) AS purchases,
       round(count(*) / NULLIF(CAST(sum(count(*)) OVER () AS numeric), 0), 4) AS purchase_share,
       sum(revenue) AS revenue,
       round(sum(revenue) / NULLIF(sum(sum(revenue)) OVER (), 0), 4) AS revenue_share,
       round(avg(revenue), 2) AS avg_basket_value
FROM purchase
GROUP BY 1, 2
WITH NO DATA;
CREATE UNIQUE INDEX basket_size_distribution_key ON basket_size_distribution (cart_size);
CALL store_twice('basket_size_distribution');
