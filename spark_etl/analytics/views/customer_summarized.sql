-- Every customer's sales and lifetime revenue, kept by summarize_cart() from what the loads
-- change, and the segment (cohort_year, value_tier) under which cohort_variation and
-- tier_variation hold its sales: customer_segment is read from here.
CREATE TABLE customer_summarized (
    customer_id bigint PRIMARY KEY,
    cohort_year integer NOT NULL,
    value_tier text NOT NULL,
    sales bigint NOT NULL,
    lifetime_revenue numeric NOT NULL
);
