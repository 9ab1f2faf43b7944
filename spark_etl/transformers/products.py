"""Product rules: the SKU splits into family and variation; prices are exact to the cent."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_etl.schemas import MONEY, PRODUCTS, SOURCE_FILE, SOURCE_ORDER
from spark_etl.transformers.common import (
    RAW,
    REASONS,
    clean_text,
    id_rules,
    parse_id,
    parse_timestamp,
    raw,
    reasons,
    record_rules,
    timestamp_rules,
)

PRODUCT_KEY = "product_id"
PRODUCT_COLUMNS = ("product_id", "name", "sku", "variation", "full_sku", "price", "created_at")
# numeric(12,2): up to 10 digits before the point and at most 2 after; never rounded.
PRICE_TEXT = r"^-?[0-9]{1,10}(\.[0-9]{1,2})?$"
SKU_SEPARATOR = "-"
VARIATION_PATTERN = r"^[^-]*-(.+)$"


def sku_family(full_sku: Column) -> Column:
    """The SKU up to the first ``-``, as the source writes it (surrounding white space
    trimmed): the product family. ``PHkXdiGyFyw-553`` is family ``PHkXdiGyFyw``; two SKUs that
    differ in case are two families."""
    return F.trim(F.substring_index(full_sku, SKU_SEPARATOR, 1))


def sku_variation(full_sku: Column) -> Column:
    """The SKU after the first ``-`` (trimmed); NULL for a SKU without one."""
    return F.when(
        full_sku.rlike(VARIATION_PATTERN), F.trim(F.regexp_extract(full_sku, VARIATION_PATTERN, 1))
    )


def parse_products(
    products: DataFrame,
    *,
    timestamp_formats: Sequence[str],
    price_min: Decimal,
    price_max: Decimal,
) -> DataFrame:
    """Type every column of a packed product extract and list what each row breaks."""
    product_id = parse_id(raw("id"))
    name = clean_text(raw("name"))
    price_text = raw("price")
    price = F.when(price_text.rlike(PRICE_TEXT), price_text.cast(MONEY))
    out_of_range = (price < F.lit(price_min).cast(MONEY)) | (price > F.lit(price_max).cast(MONEY))
    created_at = parse_timestamp(raw("created_at"), timestamp_formats)
    # the SKU as the source writes it, surrounding white space trimmed (an empty one is missing)
    full_sku = F.when(F.trim(raw("sku")) != "", F.trim(raw("sku")))
    typed = products.select(
        product_id.alias("product_id"),
        name.alias("name"),
        full_sku.alias("full_sku"),
        price.alias("price"),
        created_at.alias("created_at"),
        reasons(
            *record_rules(PRODUCTS.columns),
            *id_rules("id", product_id),
            (name.isNull(), "name is missing"),
            (price_text.isNull(), "price is missing"),
            (
                price_text.isNotNull() & price.isNull(),
                "price is not an amount with at most 10 digits and 2 decimals",
            ),
            (out_of_range, f"price is not from {price_min} to {price_max}"),
            (full_sku.isNull(), "sku is missing"),
            (sku_family(full_sku) == "", "sku has no family before '-'"),
            *timestamp_rules("created_at", created_at, timestamp_formats),
        ).alias(REASONS),
        RAW,
        SOURCE_FILE,
        SOURCE_ORDER,
    )
    return typed.select(
        "product_id",
        "name",
        sku_family(F.col("full_sku")).alias("sku"),
        sku_variation(F.col("full_sku")).alias("variation"),
        "full_sku",
        "price",
        "created_at",
        REASONS,
        RAW,
        SOURCE_FILE,
        SOURCE_ORDER,
    )
