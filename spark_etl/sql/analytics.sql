-- The analytics layer: one view per business question (README, "Analytics").
-- Run by spark_etl.analytics with search_path "<analytics schema>, <model schema>": objects are
-- created in the analytics schema and read the model. Everything here is derived data, so the
-- schema is dropped and rebuilt whenever this file changes. Materialized views are created
-- WITH NO DATA and filled by the refresh that follows (in creation order, so each one's inputs
-- are fresh); each has a unique index so that later refreshes run CONCURRENTLY.
--
-- Definitions: a sale is a cart line with no deleted_at. Revenue = sum(amount) and quantity =
-- sum(quantity) over sales. A product family is product.sku. A purchase (basket) is one
-- customer's sales on one calendar day (UTC); its cart size is its quantity.

CREATE VIEW sale AS
SELECT c.cart_id, c.customer_id, c.product_id, c.product_variation_id, p.sku,
       c.quantity, c.amount, c.created_at, CAST(c.created_at AS date) AS sale_day
FROM cart c
JOIN product p ON p.product_id = c.product_id
WHERE c.deleted_at IS NULL;

CREATE MATERIALIZED VIEW purchase AS
SELECT customer_id, sale_day AS purchase_day, sum(quantity) AS cart_size, count(*) AS lines,
       sum(amount) AS revenue, min(created_at) AS first_sale_at, max(created_at) AS last_sale_at
FROM sale
GROUP BY customer_id, sale_day
WITH NO DATA;
CREATE UNIQUE INDEX purchase_key ON purchase (customer_id, purchase_day);

-- cohort_year: year of the customer's created_at. value_tier: quartile of lifetime revenue
-- among customers with a sale (Q1 lowest .. Q4 highest; ties broken by customer id),
-- 'none' for customers without one.
CREATE MATERIALIZED VIEW customer_segment AS
WITH lifetime AS (
    SELECT customer_id, sum(revenue) AS revenue FROM purchase GROUP BY customer_id
)
SELECT c.customer_id,
       CAST(extract(year FROM c.created_at) AS integer) AS cohort_year,
       CASE WHEN l.customer_id IS NULL THEN 'none'
            ELSE 'Q' || ntile(4) OVER (PARTITION BY l.customer_id IS NULL
                                       ORDER BY l.revenue, c.customer_id) END AS value_tier,
       COALESCE(l.revenue, 0) AS lifetime_revenue
FROM customer c
LEFT JOIN lifetime l ON l.customer_id = c.customer_id
WITH NO DATA;
CREATE UNIQUE INDEX customer_segment_key ON customer_segment (customer_id);

-- Both segmentations as rows: (customer, segment_type, segment).
CREATE VIEW customer_segment_membership AS
SELECT customer_id, 'cohort_year' AS segment_type, CAST(cohort_year AS text) AS segment
FROM customer_segment
UNION ALL
SELECT customer_id, 'value_tier', value_tier FROM customer_segment;

-- 1. Which products sell most, by quantity and by revenue?
CREATE MATERIALIZED VIEW top_products AS
SELECT p.product_id, p.name, p.sku, sum(s.quantity) AS quantity, sum(s.amount) AS revenue,
       rank() OVER (ORDER BY sum(s.quantity) DESC) AS rank_by_quantity,
       rank() OVER (ORDER BY sum(s.amount) DESC) AS rank_by_revenue
FROM sale s
JOIN product p ON p.product_id = s.product_id
GROUP BY p.product_id, p.name, p.sku
WITH NO DATA;
CREATE UNIQUE INDEX top_products_key ON top_products (product_id);
CREATE INDEX top_products_by_quantity ON top_products (rank_by_quantity);
CREATE INDEX top_products_by_revenue ON top_products (rank_by_revenue);

-- 2. How do products and their variations sell month by month?
CREATE MATERIALIZED VIEW product_sales_monthly AS
SELECT CAST(date_trunc('month', created_at) AS date) AS month, product_id, product_variation_id,
       sum(quantity) AS quantity, sum(amount) AS revenue
FROM sale
GROUP BY 1, 2, 3
WITH NO DATA;
CREATE UNIQUE INDEX product_sales_monthly_key ON product_sales_monthly (month, product_variation_id);
CREATE INDEX product_sales_monthly_product ON product_sales_monthly (product_id, month);

-- 3. How much does each customer buy per purchase?
CREATE MATERIALIZED VIEW customer_purchase_summary AS
SELECT customer_id, count(*) AS purchases, sum(cart_size) AS quantity,
       sum(revenue) AS revenue, round(avg(cart_size), 2) AS avg_quantity_per_purchase,
       min(first_sale_at) AS first_purchase_at, max(last_sale_at) AS last_purchase_at
FROM purchase
GROUP BY customer_id
WITH NO DATA;
CREATE UNIQUE INDEX customer_purchase_summary_key ON customer_purchase_summary (customer_id);

-- One row: the average over customers with a sale of their quantity per purchase, and the
-- overall quantity per purchase.
CREATE VIEW avg_purchase_quantity AS
SELECT count(*) AS customers,
       round(avg(CAST(quantity AS numeric) / purchases), 2) AS avg_purchase_quantity,
       round(CAST(sum(quantity) AS numeric) / NULLIF(sum(purchases), 0), 2)
           AS overall_quantity_per_purchase
FROM customer_purchase_summary;

-- 4. Which months sell more than others? index_vs_average = revenue of the month / the
-- average of the twelve months (1.0 = an average month); quantity_index likewise.
CREATE MATERIALIZED VIEW seasonality AS
WITH monthly AS (
    SELECT CAST(extract(month FROM created_at) AS integer) AS month_of_year,
           sum(quantity) AS quantity, sum(amount) AS revenue
    FROM sale GROUP BY 1
), months AS (
    SELECT m AS month_of_year, COALESCE(monthly.quantity, 0) AS quantity,
           COALESCE(monthly.revenue, 0) AS revenue
    FROM generate_series(1, 12) AS m
    LEFT JOIN monthly ON monthly.month_of_year = m
)
SELECT month_of_year, (month_of_year - 1) / 3 + 1 AS quarter, quantity, revenue,
       round(revenue / NULLIF(avg(revenue) OVER (), 0), 4) AS index_vs_average,
       round(quantity / NULLIF(avg(quantity) OVER (), 0), 4) AS quantity_index
FROM months
WITH NO DATA;
CREATE UNIQUE INDEX seasonality_key ON seasonality (month_of_year);

-- 4b. The same per product family (the average is the family's own).
CREATE MATERIALIZED VIEW seasonality_by_family AS
WITH monthly AS (
    SELECT sku, CAST(extract(month FROM created_at) AS integer) AS month_of_year,
           sum(quantity) AS quantity, sum(amount) AS revenue
    FROM sale GROUP BY 1, 2
), months AS (
    SELECT f.sku, m AS month_of_year, COALESCE(monthly.quantity, 0) AS quantity,
           COALESCE(monthly.revenue, 0) AS revenue
    FROM (SELECT DISTINCT sku FROM monthly) f
    CROSS JOIN generate_series(1, 12) AS m
    LEFT JOIN monthly ON monthly.sku = f.sku AND monthly.month_of_year = m
)
SELECT sku, month_of_year, (month_of_year - 1) / 3 + 1 AS quarter, quantity, revenue,
       round(revenue / NULLIF(avg(revenue) OVER (PARTITION BY sku), 0), 4) AS index_vs_average
FROM months
WITH NO DATA;
CREATE UNIQUE INDEX seasonality_by_family_key ON seasonality_by_family (sku, month_of_year);

-- 5. Who buys most often? Ranked by purchases, then quantity, then revenue.
CREATE MATERIALIZED VIEW most_active_customers AS
SELECT s.customer_id, c.name, s.purchases, s.quantity, s.revenue,
       rank() OVER (ORDER BY s.purchases DESC, s.quantity DESC, s.revenue DESC) AS rank
FROM customer_purchase_summary s
JOIN customer c ON c.customer_id = s.customer_id
WITH NO DATA;
CREATE UNIQUE INDEX most_active_customers_key ON most_active_customers (customer_id);
CREATE INDEX most_active_customers_rank ON most_active_customers (rank);

-- 6. How often do segments buy? customers = every customer of the segment;
-- avg_days_between_purchases over its customers with two purchases or more:
-- (last purchase day - first purchase day) / (purchases - 1).
CREATE MATERIALIZED VIEW purchase_frequency_by_segment AS
WITH per_customer AS (
    SELECT customer_id, count(*) AS purchases,
           CASE WHEN count(*) > 1
                THEN CAST(max(purchase_day) - min(purchase_day) AS numeric) / (count(*) - 1)
           END AS days_between
    FROM purchase GROUP BY customer_id
)
SELECT m.segment_type, m.segment, count(*) AS customers,
       round(avg(COALESCE(p.purchases, 0)), 2) AS avg_purchases_per_customer,
       round(avg(p.days_between), 2) AS avg_days_between_purchases
FROM customer_segment_membership m
LEFT JOIN per_customer p ON p.customer_id = m.customer_id
GROUP BY m.segment_type, m.segment
WITH NO DATA;
CREATE UNIQUE INDEX purchase_frequency_by_segment_key
    ON purchase_frequency_by_segment (segment_type, segment);

-- 7. Which variations does each segment prefer within a family? quantity_share = the
-- variation's quantity / the family's quantity, within the segment.
-- Sales are summed per customer and variation first, then per segment of each kind.
CREATE MATERIALIZED VIEW variation_preference AS
WITH per_customer AS (
    SELECT customer_id, sku, product_variation_id, sum(quantity) AS quantity
    FROM sale GROUP BY 1, 2, 3
), bought AS (
    SELECT 'cohort_year' AS segment_type, CAST(c.cohort_year AS text) AS segment, p.sku,
           p.product_variation_id, sum(p.quantity) AS quantity
    FROM per_customer p JOIN customer_segment c ON c.customer_id = p.customer_id
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT 'value_tier', c.value_tier, p.sku, p.product_variation_id, sum(p.quantity)
    FROM per_customer p JOIN customer_segment c ON c.customer_id = p.customer_id
    GROUP BY 1, 2, 3, 4
)
SELECT segment_type, segment, sku, product_variation_id, quantity,
       round(quantity / sum(quantity) OVER (PARTITION BY segment_type, segment, sku), 4)
           AS quantity_share
FROM bought
WITH NO DATA;
CREATE UNIQUE INDEX variation_preference_key
    ON variation_preference (segment_type, segment, product_variation_id);

-- 8. How big are the baskets of each segment?
CREATE MATERIALIZED VIEW avg_cart_size_by_segment AS
SELECT m.segment_type, m.segment, count(*) AS purchases,
       round(avg(p.cart_size), 2) AS avg_cart_size,
       round(avg(p.lines), 2) AS avg_lines_per_purchase
FROM purchase p
JOIN customer_segment_membership m ON m.customer_id = p.customer_id
GROUP BY m.segment_type, m.segment
WITH NO DATA;
CREATE UNIQUE INDEX avg_cart_size_by_segment_key ON avg_cart_size_by_segment (segment_type, segment);

-- 9. Which variations lead each family? Ranked by quantity within the family.
CREATE MATERIALIZED VIEW top_variations_by_category AS
SELECT s.sku, s.product_variation_id, v.product_id, v.variation, v.full_sku, v.price,
       sum(s.quantity) AS quantity, sum(s.amount) AS revenue,
       rank() OVER (PARTITION BY s.sku ORDER BY sum(s.quantity) DESC) AS rank_in_category
FROM sale s
JOIN product_variation v ON v.product_variation_id = s.product_variation_id
GROUP BY s.sku, s.product_variation_id, v.product_id, v.variation, v.full_sku, v.price
WITH NO DATA;
CREATE UNIQUE INDEX top_variations_by_category_key ON top_variations_by_category (product_variation_id);
CREATE INDEX top_variations_by_category_rank ON top_variations_by_category (sku, rank_in_category);

-- 10. What did each price change do? A price change is a variation closed and its successor
-- (opened at the same instant) at another price. Sales of the product in the 30 days before
-- [changed_at - 30 days, changed_at) and after [changed_at, changed_at + 30 days), per day;
-- *_change = after / before - 1 (NULL when nothing sold before).
CREATE MATERIALIZED VIEW price_change_impact AS
WITH change AS (
    SELECT old.product_id, old.product_variation_id AS old_variation_id,
           new.product_variation_id AS new_variation_id, old.price AS old_price,
           new.price AS new_price, new.valid_from AS changed_at
    FROM product_variation old
    JOIN product_variation new
      ON new.product_id = old.product_id AND new.valid_from = old.valid_to
     AND new.product_variation_id <> old.product_variation_id
    WHERE old.price <> new.price
), windows AS (
    SELECT c.old_variation_id,
           COALESCE(sum(s.quantity) FILTER (WHERE s.created_at < c.changed_at), 0) AS q_before,
           COALESCE(sum(s.quantity) FILTER (WHERE s.created_at >= c.changed_at), 0) AS q_after,
           COALESCE(sum(s.amount) FILTER (WHERE s.created_at < c.changed_at), 0) AS r_before,
           COALESCE(sum(s.amount) FILTER (WHERE s.created_at >= c.changed_at), 0) AS r_after,
           count(DISTINCT s.customer_id) FILTER (WHERE s.created_at < c.changed_at) AS c_before,
           count(DISTINCT s.customer_id) FILTER (WHERE s.created_at >= c.changed_at) AS c_after
    FROM change c
    LEFT JOIN sale s
      ON s.product_id = c.product_id
     AND s.created_at >= c.changed_at - interval '30 days'
     AND s.created_at < c.changed_at + interval '30 days'
    GROUP BY c.old_variation_id
)
SELECT c.product_id, c.old_variation_id, c.new_variation_id, c.old_price, c.new_price,
       round((c.new_price - c.old_price) / NULLIF(c.old_price, 0) * 100, 2) AS pct_change,
       c.changed_at,
       round(w.q_before / 30.0, 4) AS quantity_per_day_before,
       round(w.q_after / 30.0, 4) AS quantity_per_day_after,
       round(CAST(w.q_after AS numeric) / NULLIF(w.q_before, 0) - 1, 4) AS quantity_change,
       round(w.r_before / 30.0, 4) AS revenue_per_day_before,
       round(w.r_after / 30.0, 4) AS revenue_per_day_after,
       round(w.r_after / NULLIF(w.r_before, 0) - 1, 4) AS revenue_change,
       w.c_before AS customers_before, w.c_after AS customers_after,
       round(CAST(w.c_after AS numeric) / NULLIF(w.c_before, 0) - 1, 4) AS customers_change
FROM change c
JOIN windows w ON w.old_variation_id = c.old_variation_id
WITH NO DATA;
CREATE UNIQUE INDEX price_change_impact_key ON price_change_impact (old_variation_id);

-- 11. How much attention does each product get, sold or not? lines = every cart line,
-- removed ones included; engagement_rank by lines, then quantity sold (1 = most engaged).
CREATE MATERIALIZED VIEW product_engagement AS
WITH activity AS (
    SELECT product_id, count(*) AS lines,
           count(*) FILTER (WHERE deleted_at IS NOT NULL) AS removed_lines,
           COALESCE(sum(quantity) FILTER (WHERE deleted_at IS NULL), 0) AS quantity,
           COALESCE(sum(amount) FILTER (WHERE deleted_at IS NULL), 0) AS revenue,
           count(DISTINCT customer_id) FILTER (WHERE deleted_at IS NULL) AS distinct_customers
    FROM cart GROUP BY product_id
)
SELECT p.product_id, p.name, p.sku, COALESCE(a.lines, 0) AS lines,
       COALESCE(a.removed_lines, 0) AS removed_lines,
       round(CAST(a.removed_lines AS numeric) / NULLIF(a.lines, 0), 4) AS removal_rate,
       COALESCE(a.quantity, 0) AS quantity, COALESCE(a.revenue, 0) AS revenue,
       COALESCE(a.distinct_customers, 0) AS distinct_customers,
       rank() OVER (ORDER BY COALESCE(a.lines, 0) DESC, COALESCE(a.quantity, 0) DESC)
           AS engagement_rank
FROM product p
LEFT JOIN activity a ON a.product_id = p.product_id
WITH NO DATA;
CREATE UNIQUE INDEX product_engagement_key ON product_engagement (product_id);
CREATE INDEX product_engagement_rank ON product_engagement (engagement_rank);

-- 12. How long after its creation does a product sell? Days as decimals; sales dated before
-- the product's creation are left out of first sale and averages and counted on their own.
CREATE MATERIALIZED VIEW time_to_purchase AS
SELECT p.product_id, p.name, p.created_at,
       min(s.created_at) FILTER (WHERE s.created_at >= p.created_at) AS first_sale_at,
       round(extract(epoch FROM min(s.created_at) FILTER (WHERE s.created_at >= p.created_at)
                                - p.created_at) / 86400, 2) AS days_to_first_sale,
       round(avg(extract(epoch FROM s.created_at - p.created_at) / 86400)
                 FILTER (WHERE s.created_at >= p.created_at), 2) AS avg_days_creation_to_sale,
       count(s.cart_id) FILTER (WHERE s.created_at < p.created_at) AS sales_before_creation
FROM product p
LEFT JOIN sale s ON s.product_id = p.product_id
GROUP BY p.product_id, p.name, p.created_at
WITH NO DATA;
CREATE UNIQUE INDEX time_to_purchase_key ON time_to_purchase (product_id);

-- 13. Products to consider retiring, relative to the latest sale in the data: no sale in the
-- last N days, or quantity in the latest 6 months below half of the 6 months before.
CREATE FUNCTION end_of_life_candidates(days integer DEFAULT 180)
RETURNS TABLE (product_id bigint, name text, sku text, last_sale_at timestamp,
               days_since_last_sale numeric, quantity_previous_half bigint,
               quantity_recent_half bigint, reason text)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    WITH latest AS (SELECT max(created_at) AS at FROM sale),
    per_product AS (
        SELECT p.product_id, p.name, p.sku, max(s.created_at) AS last_sale_at,
               COALESCE(sum(s.quantity) FILTER (
                   WHERE s.created_at > l.at - interval '12 months'
                     AND s.created_at <= l.at - interval '6 months'), 0) AS previous_half,
               COALESCE(sum(s.quantity) FILTER (
                   WHERE s.created_at > l.at - interval '6 months'), 0) AS recent_half
        FROM product p
        CROSS JOIN latest l
        LEFT JOIN sale s ON s.product_id = p.product_id
        GROUP BY p.product_id, p.name, p.sku
    )
    SELECT pp.product_id, pp.name, pp.sku, pp.last_sale_at,
           round(extract(epoch FROM l.at - pp.last_sale_at) / 86400, 1),
           pp.previous_half, pp.recent_half,
           CASE WHEN pp.last_sale_at IS NULL OR pp.last_sale_at <= l.at - make_interval(days => days)
                THEN 'no sale in the last ' || days || ' days'
                ELSE 'sales fell by more than half' END
    FROM per_product pp
    CROSS JOIN latest l
    WHERE l.at IS NOT NULL
      AND (pp.last_sale_at IS NULL
           OR pp.last_sale_at <= l.at - make_interval(days => days)
           OR pp.recent_half * 2 < pp.previous_half)
$$;
CREATE VIEW end_of_life_candidates AS SELECT * FROM end_of_life_candidates(180);

-- 13b. Customers with no purchase in the last N days (relative to the latest sale), including
-- customers who never bought.
CREATE FUNCTION dormant_customers(days integer DEFAULT 180)
RETURNS TABLE (customer_id bigint, name text, last_purchase_at timestamp,
               days_since_last_purchase numeric, purchases bigint)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    WITH latest AS (SELECT max(created_at) AS at FROM sale)
    SELECT c.customer_id, c.name, s.last_purchase_at,
           round(extract(epoch FROM l.at - s.last_purchase_at) / 86400, 1),
           COALESCE(s.purchases, 0)
    FROM customer c
    CROSS JOIN latest l
    LEFT JOIN customer_purchase_summary s ON s.customer_id = c.customer_id
    WHERE l.at IS NOT NULL
      AND (s.last_purchase_at IS NULL OR s.last_purchase_at <= l.at - make_interval(days => days))
$$;
CREATE VIEW dormant_customers AS SELECT * FROM dormant_customers(180);
