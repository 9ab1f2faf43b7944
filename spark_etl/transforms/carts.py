"""Cart logic no declarative rule expresses: each line is priced by the product variation in
force when it was created, and its amount is exact."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_etl.transforms.columns import REASONS, add_reason, not_found
from spark_etl.transforms.source import LINE_AMOUNT


def with_variation_in_force(carts: DataFrame, variations: DataFrame) -> DataFrame:
    """Attach the variation (and its price) in force at each line's ``created_at``.

    Validity intervals are half-open ``[valid_from, valid_to)`` and follow each other without
    gaps, so at most one variation matches. A line older than its product's first variation
    takes that first variation: the first interval is opened to the past. The reader marks the
    lookup (one row per variation) for broadcast when it is short enough: then no cart line is
    shuffled; a longer one is joined on the product by shuffling both sides.
    """
    oldest_first = Window.partitionBy("product_id").orderBy("valid_from", "product_variation_id")
    is_first = F.row_number().over(oldest_first) == 1
    lookup = variations.select(
        F.col("product_id").alias("_variation_product_id"),
        "product_variation_id",
        F.col("price").alias("unit_price"),
        F.when(~is_first, F.col("valid_from")).alias("_in_force_from"),
        F.col("valid_to").alias("_in_force_to"),
    )
    in_force = (
        (F.col("product_id") == F.col("_variation_product_id"))
        & (F.col("_in_force_from").isNull() | (F.col("created_at") >= F.col("_in_force_from")))
        & (F.col("_in_force_to").isNull() | (F.col("created_at") < F.col("_in_force_to")))
    )
    priced = carts.join(lookup, on=in_force, how="left")
    unknown = F.col("product_id").isNotNull() & F.col("product_variation_id").isNull()
    return add_reason(
        priced, unknown & F.col("created_at").isNotNull(), not_found("product_id", "product")
    ).drop("_variation_product_id", "_in_force_from", "_in_force_to")


def with_price_in_force(carts: DataFrame, history: DataFrame) -> DataFrame:
    """The product variation, and so the unit price, in force at each line's creation (an
    unknown product is named once, also when the reference check named it already)."""
    priced = with_variation_in_force(carts, history)
    named_twice = F.size(REASONS) > 1  # (a new list for a row with fewer reasons is wasted)
    return priced.withColumn(
        REASONS, F.when(named_twice, F.array_distinct(REASONS)).otherwise(F.col(REASONS))
    )


def with_line_amount(carts: DataFrame) -> DataFrame:
    """``amount = quantity * unit_price`` exactly, as numeric(14,2); an overflow is rejected."""
    amount = (F.col("quantity") * F.col("unit_price")).cast(LINE_AMOUNT)
    overflow = F.col("quantity").isNotNull() & F.col("unit_price").isNotNull() & amount.isNull()
    return add_reason(carts.withColumn("amount", amount), overflow, "amount exceeds numeric(14,2)")
