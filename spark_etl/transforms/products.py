"""Product logic no declarative rule expresses: the SKU splits into family and variation."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_etl.transforms.columns import add_reason

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


def with_sku_family_and_variation(products: DataFrame) -> DataFrame:
    """``sku`` (the family) and ``variation`` of ``full_sku``; a SKU without a family before
    its first ``-`` is a reject."""
    family = sku_family(F.col("full_sku"))
    split = products.withColumn("sku", family).withColumn(
        "variation", sku_variation(F.col("full_sku"))
    )
    return add_reason(split, family == "", "sku has no family before '-'")
