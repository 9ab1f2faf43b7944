-- The quantity sold of each price version (variation) to each cohort of customers (the year of
-- their created_at): variation_preference's sums per cohort, kept by summarize_cart().
CREATE TABLE cohort_variation (
    cohort_year integer NOT NULL,
    product_variation_id bigint NOT NULL,
    product_id bigint NOT NULL,
    quantity bigint NOT NULL,
    PRIMARY KEY (cohort_year, product_variation_id)
);
