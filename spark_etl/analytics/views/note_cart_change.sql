-- One function for the three statement triggers: TG_OP says which images the statement has.
CREATE FUNCTION note_cart_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO cart_change
        SELECT -1, customer_id, product_id, product_variation_id, quantity, amount, created_at,
               deleted_at
        FROM old_lines;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO cart_change
        SELECT 1, customer_id, product_id, product_variation_id, quantity, amount, created_at,
               deleted_at
        FROM new_lines;
    END IF;
    RETURN NULL;
END
$$;
