"""Explicit schemas of every source (never inferred) and of the model lookups.

Sources are read as text first, so that a malformed value becomes a rejection with a reason
instead of a silent NULL; the transformers then parse each column into its model type.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

CORRUPT_RECORD = "_corrupt_record"
# Where each source row came from, added by the readers: the file, and an id that grows with
# the row's position in it (duplicates keep the last line; rejections name the line).
SOURCE_FILE = "_source_file"
SOURCE_ORDER = "_source_order"
MONEY = T.DecimalType(12, 2)
LINE_AMOUNT = T.DecimalType(14, 2)


@dataclass(frozen=True)
class SourceSpec:
    """One entity of the input contract: its file stem and its columns, in contract order."""

    entity: str
    file_stem: str
    columns: tuple[str, ...]

    @property
    def raw_schema(self) -> T.StructType:
        fields = [T.StructField(name, T.StringType(), nullable=True) for name in self.columns]
        return T.StructType(fields)

    def raw_schema_in_order(self, header: list[str]) -> T.StructType:
        """The raw schema with fields in the order a file's header lists them."""
        return T.StructType([T.StructField(name, T.StringType(), True) for name in header])


PRODUCTS = SourceSpec("product", "products", ("id", "name", "price", "sku", "created_at"))
CUSTOMERS = SourceSpec("customer", "customers", ("id", "name", "created_at"))
CARTS = SourceSpec(
    "cart", "carts", ("id", "product_id", "customer_id", "quantity", "created_at", "delete_at")
)
SOURCES = {spec.entity: spec for spec in (PRODUCTS, CUSTOMERS, CARTS)}

# What the cart transform needs from the model already in PostgreSQL.
VARIATION_LOOKUP = T.StructType(
    [
        T.StructField("product_variation_id", T.LongType(), False),
        T.StructField("product_id", T.LongType(), False),
        T.StructField("price", MONEY, False),
        T.StructField("valid_from", T.TimestampType(), False),
        T.StructField("valid_to", T.TimestampType(), True),
    ]
)
