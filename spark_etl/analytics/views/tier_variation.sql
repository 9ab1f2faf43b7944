-- The quantity sold of each price version (variation) to each value tier of customers (their
-- lifetime revenue's quartile): variation_preference's sums per tier, kept by summarize_cart().
-- A customer whose tier changes has its sales moved from one tier to the other.
CREATE TABLE tier_variation (
    value_tier text NOT NULL,
    product_variation_id bigint NOT NULL,
    product_id bigint NOT NULL,
    quantity bigint NOT NULL,
    PRIMARY KEY (value_tier, product_variation_id)
);
