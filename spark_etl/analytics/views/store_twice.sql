-- Each materialized view x is stored twice, as x__a and x__b (the same query and indexes), and
-- read through the plain view x, which selects from one of them. The refresh
-- (spark_etl.analytics) fills the other one with a plain REFRESH, which no reader waits for,
-- points x at it (an instant CREATE OR REPLACE VIEW), then empties the first. A REFRESH
-- CONCURRENTLY would compute the same rows and then diff them with the old ones: 2-6 times a
-- plain refresh after a load that changed 1% of the lines, as ranks and shares move every row.
-- Called right after x and its indexes are created: the views and functions defined later
-- read the view x.
CREATE PROCEDURE store_twice(name text)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    query text := pg_get_viewdef(to_regclass(quote_ident(name)));
    twin_index record;
BEGIN
    EXECUTE format('ALTER MATERIALIZED VIEW %I RENAME TO %I', name, name || '__a');
    EXECUTE format('CREATE MATERIALIZED VIEW %I AS %s WITH NO DATA', name || '__b',
                   rtrim(query, ';'));
    FOR twin_index IN
        SELECT x.indexrelid, c.relname, x.indisunique
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid
        WHERE x.indrelid = to_regclass(quote_ident(name || '__a'))
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', twin_index.relname,
                       twin_index.relname || '__a');
        -- the same method and keys: the definition from USING on (its name and table differ)
        EXECUTE format('CREATE %s INDEX %I ON %I %s',
                       CASE WHEN twin_index.indisunique THEN 'UNIQUE' ELSE '' END,
                       twin_index.relname || '__b', name || '__b',
                       substring(pg_get_indexdef(twin_index.indexrelid) FROM ' USING .*$'));
    END LOOP;
    EXECUTE format('CREATE VIEW %I AS SELECT * FROM %I', name, name || '__a');
END
$$;
