"""What a named transform promises, as the definitions see it: the model columns it reads and
fills, and the referenced history it looks up. The functions live in ``spark_etl.transforms``
(they need Spark); these signatures let a definition be checked without it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransformSignature:
    needs: tuple[str, ...]
    makes: tuple[str, ...]
    # a column referencing an entity with a history merge: the function then receives that
    # history's versions as ``history`` (read by the pipeline, never by the transform)
    history_of: str | None = None
    description: str = ""


BUILT_IN_TRANSFORMS = {
    "sku_family_and_variation": TransformSignature(
        needs=("full_sku",),
        makes=("sku", "variation"),
        description="split the SKU into family and variation at the first '-'",
    ),
    "price_in_force": TransformSignature(
        needs=("product_id", "created_at"),
        makes=("product_variation_id", "unit_price"),
        history_of="product_id",
        description="the variation and its price in force when the line was created",
    ),
    "line_amount": TransformSignature(
        needs=("quantity", "unit_price"),
        makes=("amount",),
        description="amount = quantity * unit_price, exact; an overflow is a reject",
    ),
}
