-- The sales of each product to each customer, over every online month: product_activity's
-- distinct_customers counts a product's rows. Kept by summarize_cart(): the changed lines'
-- images are added, the lines of a month that came are added, and a month that went (its
-- lines are gone, so they cannot be subtracted) has the table rebuilt from every line.
CREATE TABLE product_buyer (
    product_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    sales bigint NOT NULL,
    PRIMARY KEY (product_id, customer_id)
);
