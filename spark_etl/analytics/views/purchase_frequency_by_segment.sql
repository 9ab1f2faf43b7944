-- 6. How often do segments buy? customers = every customer of the segment;
-- avg_purchases_per_active_month: each customer's purchases / the months they could buy in the
-- data (from joining to the last sale), averaged over the segment;
-- avg_days_between_purchases over its customers with two purchases or more:
-- (last purchase day - first purchase day) / (purchases - 1); the purchase days are those of
-- the first and the last sale.
CREATE MATERIALIZED VIEW purchase_frequency_by_segment AS
WITH per_customer AS (
    SELECT c.customer_id, COALESCE(s.purchases, 0) AS purchases,
           CASE WHEN s.purchases > 1
                THEN CAST(CAST(s.last_purchase_at AS date) - CAST(s.first_purchase_at AS date)
                          AS numeric) / (s.purchases - 1)
           END AS days_between,
           -- months (of 365.25 / 12 days) from joining (or the first purchase, if earlier; or
           -- the data's start, if later) to the last sale of the data; one at least
           GREATEST(extract(epoch FROM d.last_sale_at
                                       - GREATEST(LEAST(c.created_at, s.first_purchase_at),
                                                  d.first_sale_at)) / 86400 / (365.25 / 12),
                    1) AS active_months
    FROM customer c
    CROSS JOIN data_period d
    LEFT JOIN customer_purchase_summary s ON s.customer_id = c.customer_id
)
SELECT m.segment_type, m.segment, count(*) AS customers,
       round(avg(p.purchases), 2) AS avg_purchases_per_customer,
       round(avg(p.days_between), 2) AS avg_days_between_purchases,
       -- purchases per month as a customer, averaged: an old cohort does not win by age alone
       round(avg(p.purchases / p.active_months), 4) AS avg_purchases_per_active_month
FROM customer_segment_membership m
JOIN per_customer p ON p.customer_id = m.customer_id
GROUP BY m.segment_type, m.segment
WITH NO DATA;
CREATE UNIQUE INDEX purchase_frequency_by_segment_key
    ON purchase_frequency_by_segment (segment_type, segment);
CALL store_twice('purchase_frequency_by_segment');
