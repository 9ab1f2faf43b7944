"""Developer tools apart from the product: the embedded PostgreSQL and the sample generator."""
