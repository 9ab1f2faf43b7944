"""The building blocks of every settings section: strict, frozen models and SQL identifiers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(value: str) -> str:
    if not SQL_IDENTIFIER.match(value):
        raise ValueError("must be a lower-case SQL identifier: letters, digits and _, at most 63")
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]


class Section(BaseModel):
    """A settings section: an unknown key is an error, values keep their YAML types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
