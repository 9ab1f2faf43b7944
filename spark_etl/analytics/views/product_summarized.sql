-- The created_at of each product that product_month's *_after_creation columns were computed
-- with: summarize_cart() computes them again for a product whose created_at has changed since.
CREATE TABLE product_summarized (
    product_id bigint PRIMARY KEY,
    created_at timestamp NOT NULL
);
