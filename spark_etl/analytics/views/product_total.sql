-- product_month summed over every month, one row per product with a line: what
-- product_activity reads instead of summing product_month's ~30 rows per product at every
-- refresh. Kept by the triggers on product_month (product_month_triggers.sql, adding each
-- statement's changed rows), except customers, which summarize_product_buyers() counts as
-- product_buyer's pairs come and go. (first_line_at is NULL only while a product's lines are
-- all gone within a refresh: summarize_cart() deletes those rows at its end.)
CREATE TABLE product_total (
    product_id bigint PRIMARY KEY,
    lines bigint NOT NULL,
    removed_lines bigint NOT NULL,
    sales bigint NOT NULL,
    quantity bigint NOT NULL,
    revenue numeric NOT NULL,
    first_line_at timestamp,
    last_sale_at timestamp,
    sales_after_creation bigint NOT NULL,
    first_sale_after_creation timestamp,
    seconds_after_creation numeric NOT NULL,
    customers bigint NOT NULL DEFAULT 0
);
