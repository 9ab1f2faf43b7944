"""One content checksum of a set of rows, spelled twice: for PostgreSQL and for Spark.

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
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

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


def pg_checksum_query(columns: Sequence[tuple[str, str]], source: sql.Composable) -> sql.Composable:
    """``SELECT rows, total FROM source``: the checksum of ``source``'s rows in PostgreSQL.

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
    return sql.SQL("SELECT count(*) AS rows, coalesce(sum({}), 0) AS total FROM {}").format(
        row_hash, source
    )


def _spark_text(name: str, pg_type: str) -> Column:
    column = F.col(name)
    if pg_type == "timestamp without time zone":
        text = F.date_format(column, "yyyy-MM-dd HH:mm:ss.SSSSSS")
    elif pg_type == "date":
        text = F.date_format(column, "yyyy-MM-dd")
    elif pg_type.endswith("[]"):
        text = F.array_join(column, ELEMENT_SEPARATOR, NULL)
    elif numeric := NUMERIC.match(pg_type):  # plain digits at the column's scale, as
        # PostgreSQL writes them (a cast to string would write 1E-10); without grouping commas
        text = F.regexp_replace(F.format_number(column, int(numeric[2])), ",", "")
    else:
        text = column.cast("string")
    return F.coalesce(text, F.lit(NULL))


def spark_checksum(frame: DataFrame, columns: Sequence[tuple[str, str]]) -> Checksum:
    """The same checksum over a DataFrame (an archive read back): one aggregation pass."""
    texts = [_spark_text(name, pg_type) for name, pg_type in columns]
    digest = F.substring(F.md5(F.concat_ws(SEPARATOR, *texts)), 1, HASH_HEX_DIGITS)
    row_hash = F.conv(digest, 16, 10).cast("decimal(20,0)")
    row = frame.agg(
        F.count(F.lit(1)).alias("rows"), F.sum(row_hash).cast("decimal(38,0)").alias("total")
    ).first()
    assert row is not None
    return Checksum(int(row["rows"]), Decimal(row["total"] or 0))


def unsupported_types(columns: Sequence[tuple[str, str]]) -> list[str]:
    """Columns whose text form differs between the two spellings (floating point)."""
    return [name for name, pg_type in columns if pg_type in ("double precision", "real")]
