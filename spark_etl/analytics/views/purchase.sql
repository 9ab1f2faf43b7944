-- A table kept up to date by summarize_cart() (below), not a materialized view: a load that
-- changes a few lines updates the purchases of those lines' customers and days only.
CREATE TABLE purchase (
    customer_id bigint NOT NULL,
    purchase_day date NOT NULL,
    cart_size bigint NOT NULL,
    lines bigint NOT NULL,
    revenue numeric NOT NULL,
    first_sale_at timestamp NOT NULL,
    last_sale_at timestamp NOT NULL
);
CREATE UNIQUE INDEX purchase_key ON purchase (customer_id, purchase_day);
