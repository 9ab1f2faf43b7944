-- What summarize_cart() changed since the answers kept per key (keep_* functions) last read it:
-- a refresh empties these once every one of them has. The months whose sales changed
-- (product_sales_month, purchase); unlogged: recomputed without a log of their changed lines
-- (their partition came or went), so who bought in them must be read again.
CREATE TABLE sales_month_changed (
    month date PRIMARY KEY,
    unlogged boolean NOT NULL
);
-- the customers of the changed lines (logged in cart_change)
CREATE TABLE customer_changed (
    customer_id bigint PRIMARY KEY
);
