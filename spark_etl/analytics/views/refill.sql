-- A table kept per key, filled whole (its first build, a rebuild): emptied by TRUNCATE (a new
-- file, which wal_level = minimal fills without logging every row) and its indexes dropped, to
-- be built once after the rows (build_indexes) rather than row by row. Readers of the table
-- wait until the transaction ends: only for a table nobody reads yet, or a rebuild.
CREATE FUNCTION empty_for_refill(table_name text) RETURNS text[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    definitions text[];
    dropped text;
BEGIN
    SELECT array_agg(indexdef ORDER BY indexname),
           'DROP INDEX ' || string_agg(quote_ident(schemaname) || '.' || quote_ident(indexname),
                                       ', ')
    INTO definitions, dropped
    FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename = table_name;
    EXECUTE format('TRUNCATE %I', table_name);
    IF dropped IS NOT NULL THEN
        EXECUTE dropped;
    END IF;
    RETURN COALESCE(definitions, '{}');
END
$$;

CREATE FUNCTION build_indexes(definitions text[]) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    definition text;
BEGIN
    FOREACH definition IN ARRAY definitions LOOP
        EXECUTE definition;
    END LOOP;
END
$$;
