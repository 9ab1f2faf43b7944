-- 11. How much attention does each product get, sold or not? lines = every cart line,
-- removed ones included; days_on_sale = days from the product's creation (or its first cart
-- line, if earlier; or the data's start, if later) to the last sale of the data, one at least
-- (NULL for a product that appears only after it);
-- lines_per_day = lines / days_on_sale, so a new product compares with an old one.
-- engagement_rank by lines per day, then lines, then quantity sold (1 = most engaged).
CREATE MATERIALIZED VIEW product_engagement AS
WITH on_sale AS (
    SELECT a.*,
           CASE WHEN LEAST(a.created_at, a.first_line_at) <= d.last_sale_at
                THEN GREATEST(extract(epoch FROM d.last_sale_at
                                      - GREATEST(LEAST(a.created_at, a.first_line_at),
                                                 d.first_sale_at)) / 86400, 1)
           END AS days_on_sale
    FROM product_activity a
    CROSS JOIN data_period d
)
SELECT product_id, name, sku, lines, removed_lines,
       round(CAST(removed_lines AS numeric) / NULLIF(lines, 0), 4) AS removal_rate,
       quantity, revenue, distinct_customers, round(days_on_sale, 2) AS days_on_sale,
       round(lines / days_on_sale, 4) AS lines_per_day,
       rank() OVER (ORDER BY lines / days_on_sale DESC NULLS LAST, lines DESC, quantity DESC)
           AS engagement_rank
FROM on_sale
WITH NO DATA;
CREATE UNIQUE INDEX product_engagement_key ON product_engagement (product_id);
CREATE INDEX product_engagement_rank ON product_engagement (engagement_rank);
CALL store_twice('product_engagement');
