"""Customer rules: a positive id, a name and a creation date."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame

from spark_etl.schemas import CUSTOMERS, SOURCE_FILE, SOURCE_ORDER
from spark_etl.transformers.common import (
    RAW,
    REASONS,
    clean_text,
    id_rules,
    parse_id,
    parse_timestamp,
    raw,
    reasons,
    record_rules,
    timestamp_rules,
)

CUSTOMER_KEY = "customer_id"
CUSTOMER_COLUMNS = ("customer_id", "name", "created_at")


def parse_customers(customers: DataFrame, *, timestamp_formats: Sequence[str]) -> DataFrame:
    """Type every column of a packed customer extract and list what each row breaks."""
    customer_id = parse_id(raw("id"))
    name = clean_text(raw("name"))
    created_at = parse_timestamp(raw("created_at"), timestamp_formats)
    return customers.select(
        customer_id.alias("customer_id"),
        name.alias("name"),
        created_at.alias("created_at"),
        reasons(
            *record_rules(CUSTOMERS.columns),
            *id_rules("id", customer_id),
            (name.isNull(), "name is missing"),
            *timestamp_rules("created_at", created_at, timestamp_formats),
        ).alias(REASONS),
        RAW,
        SOURCE_FILE,
        SOURCE_ORDER,
    )
