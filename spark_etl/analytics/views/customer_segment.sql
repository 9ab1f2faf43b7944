-- cohort_year: year of the customer's created_at. value_tier: quartile of lifetime revenue
-- among customers with a sale (Q1 lowest .. Q4 highest; ties broken by customer id),
-- 'none' for customers without one. Computed by summarize_cart() (summarize_customer_segments),
-- which keeps variation_preference's sums under the same segments.
CREATE MATERIALIZED VIEW customer_segment AS
SELECT customer_id, cohort_year, value_tier, lifetime_revenue FROM customer_summarized
WITH NO DATA;
CREATE UNIQUE INDEX customer_segment_key ON customer_segment (customer_id);
CALL store_twice('customer_segment');
