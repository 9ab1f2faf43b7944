"""The declared rules of an entity, applied to its packed source rows: one engine for every
entity, built in or a user's.

``check_rows`` types each source column by its rule and lists every rule a row breaks, then
checks what needs the run (times after the load), the references (keys the model must hold)
and runs the entity's named transforms. Lookups read from PostgreSQL come in as DataFrames:
nothing here reads or writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.definitions.model import (
    Entity,
    IdRule,
    MoneyRule,
    PatternRule,
    TextRule,
    TimestampRule,
    WholeNumberRule,
)
from spark_etl.transforms.columns import (
    RAW,
    REASONS,
    add_reason,
    clean_text,
    id_rules,
    not_found,
    parse_id,
    parse_timestamp,
    raw,
    reasons,
    record_rules,
    timestamp_rules,
    with_trimmed_texts,
)
from spark_etl.transforms.registry import TRANSFORMS
from spark_etl.transforms.source import SOURCE_BLOCK, SOURCE_FILE, SOURCE_ORDER

Rule = tuple[Column, str]
# Whole-number bounds of the integer types, when a rule names no range.
INTEGER_BOUNDS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
SPARK_TYPES = {
    "bigint": T.LongType(),
    "integer": T.IntegerType(),
    "smallint": T.ShortType(),
    "text": T.StringType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp without time zone": T.TimestampType(),
    "double precision": T.DoubleType(),
}


def spark_type(pg_type: str) -> T.DataType:
    """The Spark type a model column of this PostgreSQL type holds."""
    if pg_type.startswith("numeric("):
        precision, scale = pg_type[len("numeric(") : -1].split(",")
        return T.DecimalType(int(precision), int(scale))
    if pg_type.startswith("character varying("):
        return T.StringType()
    return SPARK_TYPES[pg_type]


@dataclass(frozen=True)
class RunValues:
    """What the rules take from the run and its settings, as plain values."""

    timestamp_formats: tuple[str, ...]
    ranges: Mapping[str, tuple[Decimal, Decimal]]  # the settings' named ranges (price, ...)
    latest: datetime  # a time after this (the load's time plus future_days) is in the future
    future_days: int
    # months of the entity's table that are archived (retention) and not restored
    archived: frozenset[date] = frozenset()


def _bounds(rule: MoneyRule | WholeNumberRule, values: RunValues) -> tuple[Decimal | None, ...]:
    if rule.range is not None:
        return values.ranges[rule.range]
    return rule.min, rule.max


def _money(
    name: str, rule: MoneyRule, pg_type: str, values: RunValues
) -> tuple[Column, list[Rule]]:
    """An exact decimal fitting numeric(p,s): never rounded, never in exponent notation."""
    money = spark_type(pg_type)
    assert isinstance(money, T.DecimalType)
    digits, scale = money.precision - money.scale, money.scale
    # trailing zeros past the scale change nothing (12.990000, what decimal arithmetic in a
    # mapping template gives); any other digit there would need rounding: a reject
    decimals = rf"(\.[0-9]{{1,{scale}}}0*)?" if scale else r"(\.0*)?"
    pattern = rf"^-?[0-9]{{1,{digits}}}{decimals}$"
    text = raw(name)
    amount = F.when(text.rlike(pattern), text.cast(money))
    rules: list[Rule] = [
        (
            text.isNotNull() & amount.isNull(),
            f"{name} is not an amount with at most {digits} digits and {scale} decimals",
        ),
    ]
    low, high = _bounds(rule, values)
    if low is not None or high is not None:
        outside = F.lit(False)
        if low is not None:
            outside = outside | (amount < F.lit(low).cast(money))
        if high is not None:
            outside = outside | (amount > F.lit(high).cast(money))
        rules.append((outside, f"{name} is not from {low} to {high}"))
    return amount, rules  # a row outside the range is set aside by its reason


def _whole_number(
    name: str, rule: WholeNumberRule, pg_type: str, values: RunValues
) -> tuple[Column, list[Rule]]:
    """Digits only (a sign when the range allows negatives), within the range."""
    type_low, type_high = INTEGER_BOUNDS.get(pg_type, INTEGER_BOUNDS["bigint"])
    given_low, given_high = _bounds(rule, values)
    low = type_low if given_low is None else int(given_low)
    high = type_high if given_high is None else int(given_high)
    sign = "-?" if low < 0 else ""
    text = raw(name)
    number = F.when(text.rlike(rf"^{sign}[0-9]{{1,18}}$"), text.cast("long"))
    outside = number.isNull() | (number < F.lit(low)) | (number > F.lit(high))
    parsed = F.when(~outside, number).cast(spark_type(pg_type))
    return parsed, [
        (text.isNotNull() & outside, f"{name} is not a whole number from {low} to {high}")
    ]


def _text(name: str, rule: TextRule | PatternRule, pg_type: str) -> tuple[Column, list[Rule]]:
    whitespace = rule.whitespace if isinstance(rule, TextRule) else "trim"
    text = clean_text(raw(name)) if whitespace == "collapse" else raw(name)
    rules: list[Rule] = []
    if isinstance(rule, PatternRule):
        reason = rule.reason or f"{name} does not match {rule.pattern}"
        rules.append((text.isNotNull() & ~text.rlike(rule.pattern), reason))
    if pg_type.startswith("character varying("):
        limit = int(pg_type[len("character varying(") : -1])
        rules.append((F.length(text) > limit, f"{name} is longer than {limit} characters"))
    return text, rules


def parse_column(
    name: str, rule: object, pg_type: str, values: RunValues
) -> tuple[Column, list[Rule]]:
    """One source column typed by its rule, and the rules it breaks (missing ones included)."""
    missing: list[Rule] = []
    if getattr(rule, "required", False) and not isinstance(rule, (IdRule, TimestampRule)):
        missing = [(raw(name).isNull(), f"{name} is missing")]
    if isinstance(rule, IdRule):
        parsed = parse_id(raw(name))
        rules = id_rules(name, parsed)
        return parsed.cast(spark_type(pg_type)), rules if rule.required else rules[1:]
    if isinstance(rule, TimestampRule):
        parsed = parse_timestamp(raw(name), values.timestamp_formats)
        rules = timestamp_rules(name, parsed, values.timestamp_formats, required=rule.required)
        return parsed.cast(spark_type(pg_type)), rules
    if isinstance(rule, MoneyRule):
        parsed, rules = _money(name, rule, pg_type, values)
    elif isinstance(rule, WholeNumberRule):
        parsed, rules = _whole_number(name, rule, pg_type, values)
    else:
        assert isinstance(rule, (TextRule, PatternRule))
        parsed, rules = _text(name, rule, pg_type)
    return parsed, missing + rules


def parse_source(source: DataFrame, entity: Entity, values: RunValues) -> DataFrame:
    """Type every source column of a packed extract and list what each row breaks."""
    typed: list[Column] = []
    rules: list[Rule] = list(record_rules(tuple(entity.source.columns)))
    for name, rule in entity.source.columns.items():
        target = rule.to or name
        parsed, column_rules = parse_column(name, rule, entity.columns[target].type, values)
        typed.append(parsed.alias(target))
        rules += column_rules
    texts = with_trimmed_texts(source, tuple(entity.source.columns))
    return texts.select(
        *typed, reasons(*rules).alias(REASONS), RAW, SOURCE_FILE, SOURCE_BLOCK, SOURCE_ORDER
    )


def with_times_not_after(frame: DataFrame, entity: Entity, values: RunValues) -> DataFrame:
    """Reject times declared ``not_after_load`` that are after ``values.latest``."""
    days = f"{values.future_days} day" + ("" if values.future_days == 1 else "s")
    for name, rule in entity.source.columns.items():
        if isinstance(rule, TimestampRule) and rule.not_after_load:
            target = rule.to or name
            future = F.col(target) > F.lit(values.latest)
            message = f"{target} is in the future (over {days} after the load)"
            frame = add_reason(frame, future, message)
    return frame


def with_archived_months_set_aside(
    frame: DataFrame, entity: Entity, archived: frozenset[date]
) -> DataFrame:
    """Reject rows dated in an archived month: loading them would re-create the month's
    partition beside its archive (restore the month first)."""
    parts = entity.table.partitioning
    if not archived or parts is None:
        return frame
    month = F.date_trunc("month", F.col(parts.range)).cast("date")
    label = F.date_format(F.col(parts.range), "yyyy-MM")
    message = F.concat(F.lit("month "), label, F.lit(" is archived"))
    return add_reason(frame, month.isin(sorted(archived)), message)


def with_known_reference(frame: DataFrame, column: str, entity: str, keys: DataFrame) -> DataFrame:
    """Reject rows whose ``column`` is not a key of ``entity`` in the model (``keys``: one
    column; the reader marks it for broadcast when it is short enough)."""
    known = keys.select(F.col(keys.columns[0]).alias("_known_key"))
    checked = frame.join(known, on=F.col(column) == F.col("_known_key"), how="left")
    unknown = F.col(column).isNotNull() & F.col("_known_key").isNull()
    return add_reason(checked, unknown, not_found(column, entity)).drop("_known_key")


def check_rows(
    source: DataFrame,
    entity: Entity,
    values: RunValues,
    *,
    known_keys: Mapping[str, DataFrame],
    histories: Mapping[str, DataFrame],
) -> DataFrame:
    """The packed source rows, typed and checked by the entity's rules, references and named
    transforms, with the model columns in their declared order.

    ``known_keys`` holds, per referencing column, the keys of the referenced entity;
    ``histories``, per column a named transform looks up, the versions of its history table.
    """
    checked = (
        parse_source(source, entity, values)
        .transform(with_times_not_after, entity, values)
        .transform(with_archived_months_set_aside, entity, values.archived)
    )
    for reference in entity.references:
        checked = with_known_reference(
            checked, reference.column, reference.entity, known_keys[reference.column]
        )
    for name in entity.transforms:
        transform = TRANSFORMS[name]
        lookup = {"history": histories[transform.history_of]} if transform.history_of else {}
        checked = transform.function(checked, **lookup)
    return checked.select(*entity.columns, REASONS, RAW, SOURCE_FILE, SOURCE_BLOCK, SOURCE_ORDER)


def lookups_needed(entity: Entity) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The referencing columns whose keys ``check_rows`` needs, and the columns whose
    referenced history it needs."""
    histories = tuple(
        history for name in entity.transforms if (history := TRANSFORMS[name].history_of)
    )
    return tuple(reference.column for reference in entity.references), histories


__all__: Sequence[str] = ("RunValues", "check_rows", "lookups_needed", "parse_source", "spark_type")
