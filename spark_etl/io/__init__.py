"""Every Spark read and write: extracts, lookups from the model, staging COPY, Parquet archives."""
