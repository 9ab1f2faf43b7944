-- 8. How big are the baskets of each segment? Each purchase joined to its customer's segments
-- once, averaged per segment of either kind (GROUPING SETS).
CREATE MATERIALIZED VIEW avg_cart_size_by_segment AS
SELECT CASE WHEN GROUPING(s.cohort_year) = 0 THEN 'cohort_year' ELSE 'value_tier' END
           AS segment_type,
       CASE WHEN GROUPING(s.cohort_year) = 0 THEN CAST(s.cohort_year AS text)
            ELSE s.value_tier END AS segment,
       count(*) AS purchases,
       round(avg(p.cart_size), 2) AS avg_cart_size,
       round(avg(p.lines), 2) AS avg_lines_per_purchase,
       round(avg(p.revenue), 2) AS avg_basket_value
FROM purchase p
JOIN customer_segment s ON s.customer_id = p.customer_id
GROUP BY GROUPING SETS ((s.cohort_year), (s.value_tier))
WITH NO DATA;
CREATE UNIQUE INDEX avg_cart_size_by_segment_key ON avg_cart_size_by_segment (segment_type, segment);
CALL store_twice('avg_cart_size_by_segment');
