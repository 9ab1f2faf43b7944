-- One analytics schema per model: OR REPLACE takes the triggers over from an earlier one.
CREATE OR REPLACE TRIGGER analytics_cart_insert AFTER INSERT ON cart
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION note_cart_change();
CREATE OR REPLACE TRIGGER analytics_cart_update AFTER UPDATE ON cart
    REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION note_cart_change();
CREATE OR REPLACE TRIGGER analytics_cart_delete AFTER DELETE ON cart
    REFERENCING OLD TABLE AS old_lines
    FOR EACH STATEMENT EXECUTE FUNCTION note_cart_change();
CREATE OR REPLACE TRIGGER analytics_cart_truncate AFTER TRUNCATE ON cart
    FOR EACH STATEMENT EXECUTE FUNCTION forget_cart_summaries();
