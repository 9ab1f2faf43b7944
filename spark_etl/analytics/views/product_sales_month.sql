CREATE TABLE product_sales_month (
    month date NOT NULL,
    product_id bigint NOT NULL,
    product_variation_id bigint NOT NULL,
    quantity bigint NOT NULL,
    revenue numeric NOT NULL,
    sales bigint NOT NULL
);
CREATE UNIQUE INDEX product_sales_month_key ON product_sales_month (month, product_variation_id);
CREATE INDEX product_sales_month_product ON product_sales_month (product_id, month);
