"""The lake: an Apache Iceberg copy of the model, written after each load commits."""
