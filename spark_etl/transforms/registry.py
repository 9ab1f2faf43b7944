"""Named transforms: the logic no declarative rule expresses, referred to by name from an
entity definition (``transforms: [...]``). Each is a pure ``DataFrame -> DataFrame`` function
over the checked rows, registered with its signature (the columns it reads and fills), which
is checked when the definitions load.

A user's module adds one with ``@register("name", TransformSignature(...))`` and is named in
the ``entities.transform_modules`` setting, which imports it before the definitions load.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyspark.sql import DataFrame

from spark_etl.definitions.transforms import BUILT_IN_TRANSFORMS, TransformSignature
from spark_etl.errors import ConfigError
from spark_etl.transforms.carts import with_line_amount, with_price_in_force
from spark_etl.transforms.products import with_sku_family_and_variation

Transform = Callable[..., DataFrame]


@dataclass(frozen=True)
class NamedTransform:
    function: Transform
    signature: TransformSignature

    @property
    def history_of(self) -> str | None:
        return self.signature.history_of


TRANSFORMS: dict[str, NamedTransform] = {
    "sku_family_and_variation": NamedTransform(
        with_sku_family_and_variation, BUILT_IN_TRANSFORMS["sku_family_and_variation"]
    ),
    "price_in_force": NamedTransform(with_price_in_force, BUILT_IN_TRANSFORMS["price_in_force"]),
    "line_amount": NamedTransform(with_line_amount, BUILT_IN_TRANSFORMS["line_amount"]),
}


def register(name: str, signature: TransformSignature) -> Callable[[Transform], Transform]:
    """Register the decorated function as the named transform ``name``."""

    def add(function: Transform) -> Transform:
        if name in TRANSFORMS and TRANSFORMS[name].function is not function:
            raise ConfigError(f"Named transform '{name}' is registered twice; rename one.")
        TRANSFORMS[name] = NamedTransform(function, signature)
        return function

    return add


def import_modules(modules: Iterable[str]) -> None:
    """Import the modules that register a user's named transforms."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"Cannot import transform module '{module}' ({exc}); check "
                "entities.transform_modules and that the module is on the Python path."
            ) from None


def signatures() -> dict[str, TransformSignature]:
    """Every registered transform's signature, for the definitions' checks."""
    return {name: transform.signature for name, transform in TRANSFORMS.items()}
