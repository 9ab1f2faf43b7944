"""Named transforms: the logic no declarative rule expresses, referred to by name from an
entity definition (``transforms: [...]``). Each is a pure ``DataFrame -> DataFrame`` function
over the parsed rows; ``needs`` and ``makes`` are the model columns it reads and fills, checked
when the definitions load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_etl.transformers.carts import with_line_amount, with_variation_in_force
from spark_etl.transformers.common import add_reason
from spark_etl.transformers.products import sku_family, sku_variation


@dataclass(frozen=True)
class NamedTransform:
    function: Callable[..., DataFrame]
    needs: tuple[str, ...]
    makes: tuple[str, ...]
    # the versions of the history table of the entity this column references, given to the
    # function as ``history`` (read from PostgreSQL by the pipeline, never by the transform)
    history_of: str | None = None
    description: str = ""


def with_sku_family_and_variation(products: DataFrame) -> DataFrame:
    """``sku`` (the family, up to the first ``-``) and ``variation`` (after it) of
    ``full_sku``; a SKU without a family is a reject."""
    family = sku_family(F.col("full_sku"))
    split = products.withColumn("sku", family).withColumn(
        "variation", sku_variation(F.col("full_sku"))
    )
    return add_reason(split, family == "", "sku has no family before '-'")


def with_price_in_force(carts: DataFrame, history: DataFrame) -> DataFrame:
    """The product variation, and so the unit price, in force at each line's creation."""
    return with_variation_in_force(carts, history)


TRANSFORMS: dict[str, NamedTransform] = {
    "sku_family_and_variation": NamedTransform(
        with_sku_family_and_variation,
        needs=("full_sku",),
        makes=("sku", "variation"),
        description="split the SKU into family and variation at the first '-'",
    ),
    "price_in_force": NamedTransform(
        with_price_in_force,
        needs=("product_id", "created_at"),
        makes=("product_variation_id", "unit_price"),
        history_of="product_id",
        description="the variation and price in force when the line was created",
    ),
    "line_amount": NamedTransform(
        with_line_amount,
        needs=("quantity", "unit_price"),
        makes=("amount",),
        description="amount = quantity * unit_price, exact; an overflow is a reject",
    ),
}
