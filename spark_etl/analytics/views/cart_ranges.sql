-- cart's partitions of a range (a month's, or each of its hash leaves' parent): their oid and
-- bounds, as PostgreSQL prints them (FOR VALUES FROM ('...') TO ('...')).
CREATE FUNCTION cart_ranges()
RETURNS TABLE (partition oid, range_from timestamp, range_to timestamp)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    SELECT c.oid, CAST(b[1] AS timestamp), CAST(b[2] AS timestamp)
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    $re$FROM \('([^']*)'\) TO \('([^']*)'\)$re$) AS b
    WHERE i.inhparent = CAST('cart' AS regclass) AND b IS NOT NULL
$$;
