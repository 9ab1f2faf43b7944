-- Incremental upkeep of purchase and product_sales_month. The statement triggers below log
-- every line a statement on cart inserts, updates or deletes into cart_change, in the load's
-- own transaction: the image before (sign -1) and after (sign +1). A load that adds a month
-- attaches a partition filled beside cart (merges.load_new_partitions) and fires no trigger;
-- the retention job detaches and attaches months likewise. So cart_range_summarized records
-- the partitions (by oid) whose lines the tables hold, and a month whose partitions came or
-- went since is recomputed whole. summarize_cart() runs in one REPEATABLE READ transaction:
-- the log it takes and the lines it reads are one state of cart; what a load commits after
-- that stays in the log for the next refresh.
CREATE TABLE cart_change (
    sign smallint NOT NULL,
    customer_id bigint NOT NULL,
    product_id bigint NOT NULL,
    product_variation_id bigint NOT NULL,
    quantity bigint NOT NULL,
    amount numeric NOT NULL,
    created_at timestamp NOT NULL,
    deleted_at timestamp
);
