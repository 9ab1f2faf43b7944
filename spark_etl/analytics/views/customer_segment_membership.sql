-- Both segmentations as rows: (customer, segment_type, segment).
CREATE VIEW customer_segment_membership AS
SELECT customer_id, 'cohort_year' AS segment_type, CAST(cohort_year AS text) AS segment
FROM customer_segment
UNION ALL
SELECT customer_id, 'value_tier', value_tier FROM customer_segment;
