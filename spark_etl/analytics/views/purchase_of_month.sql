-- The purchases of one calendar month [month_start, + 1 month). A purchase (one day) never
-- spans two months, so purchases are computed month by month: each month's hash table fits
-- in work_mem (one over all lines spilled to disk and took twice as long at 10M lines), and
-- only that month's partitions are read.
CREATE FUNCTION purchase_of_month(month_start timestamp)
RETURNS TABLE (customer_id bigint, purchase_day date, cart_size bigint, lines bigint,
               revenue numeric, first_sale_at timestamp, last_sale_at timestamp)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
SET jit = off
AS $$
    SELECT customer_id, CAST(created_at AS date), sum(quantity), count(*), sum(amount),
           min(created_at), max(created_at)
    FROM cart
    WHERE deleted_at IS NULL
      AND created_at >= month_start AND created_at < month_start + interval '1 month'
    GROUP BY 1, 2
$$;
