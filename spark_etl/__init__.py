"""Batch ETL from raw e-commerce extracts into a partitioned PostgreSQL model."""

__version__ = "0.1.0"
