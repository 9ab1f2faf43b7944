-- product_month's rows of one calendar month (see product_month.sql), computed from its lines.
CREATE FUNCTION product_month_of(month_start timestamp)
RETURNS TABLE (month date, product_id bigint, lines bigint, removed_lines bigint, sales bigint,
               quantity bigint, revenue numeric, first_line_at timestamp,
               last_sale_at timestamp, sales_after_creation bigint,
               first_sale_after_creation timestamp, seconds_after_creation numeric)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
AS $$
    SELECT CAST(month_start AS date), c.product_id, count(*),
           count(*) FILTER (WHERE c.deleted_at IS NOT NULL),
           count(*) FILTER (WHERE c.deleted_at IS NULL),
           COALESCE(sum(c.quantity) FILTER (WHERE c.deleted_at IS NULL), 0),
           COALESCE(sum(c.amount) FILTER (WHERE c.deleted_at IS NULL), 0),
           min(c.created_at),
           max(c.created_at) FILTER (WHERE c.deleted_at IS NULL),
           count(*) FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at),
           min(c.created_at) FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at),
           COALESCE(sum(extract(epoch FROM c.created_at - p.created_at))
                        FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at), 0)
    FROM cart c
    JOIN product_summarized p ON p.product_id = c.product_id
    WHERE c.created_at >= month_start AND c.created_at < month_start + interval '1 month'
    GROUP BY c.product_id
    ORDER BY c.product_id
$$;
