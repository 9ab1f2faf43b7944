-- The months whose product_sales_month rows summarize_cart() changed since keep_family_sales()
-- last read them (it rewrites those months of family_sales_monthly).
CREATE TABLE sales_month_changed (
    month date PRIMARY KEY
);
