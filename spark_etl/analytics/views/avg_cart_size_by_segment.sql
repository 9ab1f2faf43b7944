-- 8. How big are the baskets of each segment? Each customer's purchases, summed per customer
-- (customer_purchase_summary's rows, kept per customer, rather than every purchase), summed
-- per segment of either kind (GROUPING SETS) and divided: the average over the segment's
-- purchases, as avg() over them gives it.
CREATE MATERIALIZED VIEW avg_cart_size_by_segment AS
SELECT CASE WHEN GROUPING(s.cohort_year) = 0 THEN 'cohort_year' ELSE 'value_tier' END
           AS segment_type,
       CASE WHEN GROUPING(s.cohort_year) = 0 THEN CAST(s.cohort_year AS text)
            ELSE s.value_tier END AS segment,
       CAST(sum(r.purchases) AS bigint) AS purchases,
       round(sum(r.quantity) / sum(r.purchases), 2) AS avg_cart_size,
       round(sum(r.lines) / sum(r.purchases), 2) AS avg_lines_per_purchase,
       round(sum(r.revenue) / sum(r.purchases), 2) AS avg_basket_value
FROM customer_purchase_row r
JOIN customer_segment s ON s.customer_id = r.customer_id
GROUP BY GROUPING SETS ((s.cohort_year), (s.value_tier))
WITH NO DATA;
CREATE UNIQUE INDEX avg_cart_size_by_segment_key ON avg_cart_size_by_segment (segment_type, segment);
CALL store_twice('avg_cart_size_by_segment');
