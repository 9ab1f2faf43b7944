"""Cart rules: each line is priced by the product variation in force when it was created."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_etl.schemas import CARTS, LINE_AMOUNT, SOURCE_FILE, SOURCE_ORDER
from spark_etl.transformers.common import (
    RAW,
    REASONS,
    add_reason,
    id_rules,
    parse_id,
    parse_timestamp,
    raw,
    reasons,
    record_rules,
    timestamp_rules,
)

CART_COLUMNS = (
    "cart_id",
    "product_variation_id",
    "product_id",
    "customer_id",
    "quantity",
    "unit_price",
    "amount",
    "created_at",
    "deleted_at",
)
CART_KEY = "cart_id"
QUANTITY_TEXT = r"^[0-9]{1,10}$"


def parse_carts(
    carts: DataFrame, *, timestamp_formats: Sequence[str], quantity_min: int, quantity_max: int
) -> DataFrame:
    """Type every column of a packed cart extract and list what each row breaks."""
    cart_id = parse_id(raw("id"))
    product_id = parse_id(raw("product_id"))
    customer_id = parse_id(raw("customer_id"))
    quantity_text = raw("quantity")
    quantity = F.when(quantity_text.rlike(QUANTITY_TEXT), quantity_text.cast("long"))
    created_at = parse_timestamp(raw("created_at"), timestamp_formats)
    deleted_at = parse_timestamp(raw("delete_at"), timestamp_formats)
    quantity_out_of_range = (
        quantity.isNull() | (quantity < quantity_min) | (quantity > quantity_max)
    )
    return carts.select(
        cart_id.alias("cart_id"),
        product_id.alias("product_id"),
        customer_id.alias("customer_id"),
        F.when(~quantity_out_of_range, quantity.cast("int")).alias("quantity"),
        created_at.alias("created_at"),
        deleted_at.alias("deleted_at"),
        reasons(
            *record_rules(CARTS.columns),
            *id_rules("id", cart_id),
            *id_rules("product_id", product_id),
            *id_rules("customer_id", customer_id),
            (quantity_text.isNull(), "quantity is missing"),
            (
                quantity_text.isNotNull() & quantity_out_of_range,
                f"quantity is not a whole number from {quantity_min} to {quantity_max}",
            ),
            *timestamp_rules("created_at", created_at, timestamp_formats),
            *timestamp_rules("delete_at", deleted_at, timestamp_formats, required=False),
        ).alias(REASONS),
        RAW,
        SOURCE_FILE,
        SOURCE_ORDER,
    )


def with_variation_in_force(carts: DataFrame, variations: DataFrame) -> DataFrame:
    """Attach the variation (and its price) in force at each line's ``created_at``.

    Validity intervals are half-open ``[valid_from, valid_to)`` and follow each other without
    gaps, so at most one variation matches. A line older than its product's first variation
    takes that first variation: the first interval is opened to the past. The lookup is small
    (one row per variation) and broadcast, so no cart line is shuffled or duplicated.
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
    priced = carts.join(F.broadcast(lookup), on=in_force, how="left")
    unknown = F.col("product_id").isNotNull() & F.col("product_variation_id").isNull()
    return add_reason(
        priced, unknown & F.col("created_at").isNotNull(), "product_id not found in product"
    ).drop("_variation_product_id", "_in_force_from", "_in_force_to")


def with_known_customer(carts: DataFrame, customer_ids: DataFrame) -> DataFrame:
    """Reject lines whose customer is not in the model."""
    known = customer_ids.select(F.col("customer_id").alias("_known_customer_id"))
    checked = carts.join(
        F.broadcast(known), on=F.col("customer_id") == F.col("_known_customer_id"), how="left"
    )
    unknown = F.col("customer_id").isNotNull() & F.col("_known_customer_id").isNull()
    return add_reason(checked, unknown, "customer_id not found in customer").drop(
        "_known_customer_id"
    )


def with_created_at_not_after(carts: DataFrame, latest: datetime, future_days: int) -> DataFrame:
    """Reject lines created after ``latest`` (the run's time plus ``future_days`` days)."""
    future = F.col("created_at") > F.lit(latest)
    days = f"{future_days} day" + ("" if future_days == 1 else "s")
    return add_reason(carts, future, f"created_at is in the future (over {days} after the load)")


def with_line_amount(carts: DataFrame) -> DataFrame:
    """``amount = quantity * unit_price`` exactly, as numeric(14,2); an overflow is rejected."""
    amount = (F.col("quantity") * F.col("unit_price")).cast(LINE_AMOUNT)
    overflow = F.col("quantity").isNotNull() & F.col("unit_price").isNotNull() & amount.isNull()
    return add_reason(carts.withColumn("amount", amount), overflow, "amount exceeds numeric(14,2)")


def check_carts(
    carts: DataFrame,
    variations: DataFrame,
    customer_ids: DataFrame,
    *,
    timestamp_formats: Sequence[str],
    quantity_min: int,
    quantity_max: int,
    loaded_at: datetime,
    future_days: int,
) -> DataFrame:
    """Parse, price and check the references of each line on its own; ``loaded_at`` is the
    load's time (lines more than ``future_days`` days after it are set aside)."""
    return (
        carts.transform(
            parse_carts,
            timestamp_formats=timestamp_formats,
            quantity_min=quantity_min,
            quantity_max=quantity_max,
        )
        .transform(
            with_created_at_not_after,
            latest=loaded_at + timedelta(days=future_days),
            future_days=future_days,
        )
        .transform(with_variation_in_force, variations)
        .transform(with_known_customer, customer_ids)
        .transform(with_line_amount)
    )
