"""The Spark spelling of the content checksum ``spark_etl.db.checksums`` defines: the same
row rendering and hash, computed over a DataFrame (an archive read back)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_etl.db.checksums import (
    ELEMENT_SEPARATOR,
    HASH_HEX_DIGITS,
    NULL,
    NUMERIC,
    SEPARATOR,
    Checksum,
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


def _row_hash(columns: Sequence[tuple[str, str]]) -> Column:
    texts = [_spark_text(name, pg_type) for name, pg_type in columns]
    digest = F.substring(F.md5(F.concat_ws(SEPARATOR, *texts)), 1, HASH_HEX_DIGITS)
    return F.conv(digest, 16, 10).cast("decimal(20,0)")


def _figures(row_hash: Column) -> list[Column]:
    return [F.count(F.lit(1)).alias("rows"), F.sum(row_hash).cast("decimal(38,0)").alias("total")]


def spark_checksum(frame: DataFrame, columns: Sequence[tuple[str, str]]) -> Checksum:
    """The same checksum over a DataFrame (an archive read back): one aggregation pass."""
    row = frame.agg(*_figures(_row_hash(columns))).first()
    assert row is not None
    return Checksum(int(row["rows"]), Decimal(row["total"] or 0))


def spark_checksums(
    frame: DataFrame, columns: Sequence[tuple[str, str]], group: Column
) -> dict[Any, Checksum]:
    """The checksum of the rows of each value of ``group``, in one aggregation pass."""
    rows = frame.groupBy(group.alias("grouped")).agg(*_figures(_row_hash(columns))).collect()
    return {row["grouped"]: Checksum(int(row["rows"]), Decimal(row["total"])) for row in rows}
