-- TRUNCATE keeps the partitions (and their oids): every month is recomputed at the next refresh.
CREATE FUNCTION forget_cart_summaries() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    DELETE FROM cart_range_summarized;
    DELETE FROM cart_change;
    RETURN NULL;
END
$$;
