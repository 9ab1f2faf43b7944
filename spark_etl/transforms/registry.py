"""Named transforms: the logic no declarative rule expresses, referred to by name from an
entity definition (``transforms: [...]``). Each is a pure ``DataFrame -> DataFrame`` function
over the checked rows; ``needs`` and ``makes`` are the model columns it reads and fills,
checked when the definitions load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame

from spark_etl.transforms.carts import with_line_amount, with_price_in_force
from spark_etl.transforms.products import with_sku_family_and_variation


@dataclass(frozen=True)
class NamedTransform:
    function: Callable[..., DataFrame]
    needs: tuple[str, ...]
    makes: tuple[str, ...]
    # a column referencing an entity with a history merge: the function then receives that
    # history's versions as ``history`` (read by the pipeline, never by the transform)
    history_of: str | None = None
    description: str = ""


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
        description="the variation and its price in force when the line was created",
    ),
    "line_amount": NamedTransform(
        with_line_amount,
        needs=("quantity", "unit_price"),
        makes=("amount",),
        description="amount = quantity * unit_price, exact; an overflow is a reject",
    ),
}
