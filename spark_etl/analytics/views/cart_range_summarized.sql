CREATE TABLE cart_range_summarized (
    partition oid PRIMARY KEY,
    range_from timestamp NOT NULL,
    range_to timestamp NOT NULL
);
