"""One content checksum of a set of rows, spelled twice: for PostgreSQL here and for Spark in
``spark_etl.io.checksums``.

A row's hash is the first 60 bits of the MD5 of its values rendered as text (NULL as ``\\N``,
values joined by the unit separator); the checksum of a set is the row count and the sum of
those hashes. Both spellings render every type the same way, so an archive read back by Spark
can be compared with the rows PostgreSQL holds without moving them again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from psycopg2 import sql

SEPARATOR = "\x1f"  # the ASCII unit separator: never in the values the model holds
ELEMENT_SEPARATOR = "\x1e"  # between the elements of an array
NULL = "\\N"
NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
HASH_HEX_DIGITS = 15  # 60 bits: a positive bigint in PostgreSQL, summed without overflow


@dataclass(frozen=True)
class Checksum:
    rows: int
    total: Decimal  # the sum of the rows' hashes

    def __str__(self) -> str:
        return f"{self.rows} rows, checksum {self.total}"


def _pg_text(name: str, pg_type: str) -> sql.Composable:
    column = sql.Identifier(name)
    if pg_type == "timestamp without time zone":
        text = sql.SQL("to_char({}, 'YYYY-MM-DD HH24:MI:SS.US')").format(column)
    elif pg_type == "date":
        text = sql.SQL("to_char({}, 'YYYY-MM-DD')").format(column)
    elif pg_type.endswith("[]"):
        text = sql.SQL("array_to_string({}, {}, {})").format(
            column, sql.Literal(ELEMENT_SEPARATOR), sql.Literal(NULL)
        )
    else:  # integers, numeric (at its scale), text, boolean, uuid, jsonb: their text form
        text = sql.SQL("CAST({} AS text)").format(column)
    return sql.SQL("coalesce({}, {})").format(text, sql.Literal(NULL))


def pg_checksum_query(
    columns: Sequence[tuple[str, str]],
    source: sql.Composable,
    group: sql.Composable | None = None,
) -> sql.Composable:
    """``SELECT rows, total FROM source``: the checksum of ``source``'s rows in PostgreSQL;
    with ``group`` (an expression over its columns), one row per value of it, as ``grouped``.

    ``columns`` are (name, type as format_type spells it) pairs, in the archive's order.
    """
    texts = sql.SQL(", ").join(_pg_text(name, pg_type) for name, pg_type in columns)
    row_hash = sql.SQL(
        "CAST(CAST('x' || substr(md5(concat_ws({}, {})), 1, {}) AS bit({})) AS bigint)"
    ).format(
        sql.Literal(SEPARATOR),
        texts,
        sql.Literal(HASH_HEX_DIGITS),
        sql.SQL(str(HASH_HEX_DIGITS * 4)),
    )
    if group is None:
        return sql.SQL("SELECT count(*) AS rows, coalesce(sum({}), 0) AS total FROM {}").format(
            row_hash, source
        )
    return sql.SQL(
        "SELECT {} AS grouped, count(*) AS rows, coalesce(sum({}), 0) AS total FROM {} GROUP BY 1"
    ).format(group, row_hash, source)


def unsupported_types(columns: Sequence[tuple[str, str]]) -> list[str]:
    """Columns whose text form differs between the two spellings (floating point)."""
    return [name for name, pg_type in columns if pg_type in ("double precision", "real")]
