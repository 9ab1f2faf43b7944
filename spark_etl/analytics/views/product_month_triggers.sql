-- product_total follows product_month, statement by statement. (TRUNCATE product_month, in a
-- refill, truncates product_total with it: summarize_cart().)
CREATE TRIGGER product_month_insert AFTER INSERT ON product_month
    REFERENCING NEW TABLE AS added_months
    FOR EACH STATEMENT EXECUTE FUNCTION add_to_product_total();
CREATE TRIGGER product_month_update AFTER UPDATE ON product_month
    REFERENCING OLD TABLE AS removed_months NEW TABLE AS added_months
    FOR EACH STATEMENT EXECUTE FUNCTION add_to_product_total();
CREATE TRIGGER product_month_delete AFTER DELETE ON product_month
    REFERENCING OLD TABLE AS removed_months
    FOR EACH STATEMENT EXECUTE FUNCTION add_to_product_total();
