-- What product_activity needs of every cart line, summed per product and month, so that it
-- reads these sums instead of every line. Kept up to date by summarize_cart() like
-- product_sales_month: a month is recomputed whole (product_month_of) or the changed lines'
-- images are added; first_line_at, last_sale_at and first_sale_after_creation are read again
-- from the product's lines of that month only when a removed line held them. lines and
-- removed_lines count every line, the rest sales only. The *_after_creation columns compare
-- each sale with the product's created_at as product_summarized records it (a product whose
-- created_at changes has them computed again). seconds_after_creation is exact (a sum of
-- microsecond times), so incremental sums equal recomputed ones to the last digit.
CREATE TABLE product_month (
    month date NOT NULL,
    product_id bigint NOT NULL,
    lines bigint NOT NULL,
    removed_lines bigint NOT NULL,
    sales bigint NOT NULL,
    quantity bigint NOT NULL,
    revenue numeric NOT NULL,
    first_line_at timestamp NOT NULL,
    last_sale_at timestamp,
    sales_after_creation bigint NOT NULL,
    first_sale_after_creation timestamp,
    seconds_after_creation numeric NOT NULL
);
CREATE UNIQUE INDEX product_month_key ON product_month (month, product_id);
CREATE INDEX product_month_product ON product_month (product_id, month);
