"""How the report's tables read to people, not to the view's author: headings in words, shares
and changes as percentages, months by name, money with the report's currency.

A column's kind comes from its name, the convention every view follows (``*_share``,
``*_change*``, ``*_rank``, ``revenue*``, ``month``...): one place, so that a new view reads the
same.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from spark_etl.analytics.report.values import text

SHARE, CHANGE, PERCENT, MONEY = "share", "change", "percent", "money"
MONTH, MONTH_OF_YEAR, CODE = "month", "month_of_year", "code"
_SHARE = re.compile(r"(_share|_rate)$")  # a fraction of a whole: 0.25 = 25%
_CHANGE = re.compile(r"(^|_)change(_|$)")  # a ratio - 1: 0.25 = +25%
_CODE = re.compile(r"(^|_)id$|^(year|quarter|bucket)$")  # a number that is a name: no 1,234
_PERCENT = re.compile(r"^pct_")  # already in per cent
_RANK = re.compile(r"(^|_)rank(_|$)")  # a place in an order (rank_by_revenue is no money)
_MONEY = re.compile(r"(^|_)(revenue|amount|price|basket_value)(_|$)")
_WORDS = {
    "id": "ID",
    "sku": "SKU",
    "kpi": "KPI",
    "avg": "average",
    "mom": "vs month before",
    "yoy": "vs a year before",
    "pct": "%",
}
_HEADINGS = {"pct_change": "Price change"}  # where the words of the name mislead


def kind(column: str) -> str | None:
    """What a column holds, read from its name (None: shown as it is)."""
    if _PERCENT.search(column):
        return PERCENT
    if _SHARE.search(column):
        return SHARE
    if _CHANGE.search(column):
        return CHANGE
    if _CODE.search(column):
        return CODE
    if _RANK.search(column):
        return None
    if _MONEY.search(column) and not column.endswith("_versions"):
        return MONEY
    if column == "month_of_year":
        return MONTH_OF_YEAR
    if column == "month" or column.endswith("_month"):
        return MONTH
    return None


def heading(column: str, currency: str) -> str:
    """``revenue_change_mom`` -> 'Revenue change vs month before'; money says its currency."""
    words = _HEADINGS.get(column) or title(column)
    return f"{words} ({currency})" if kind(column) == MONEY else words


def title(name: str) -> str:
    """A view's or column's name in words: ``avg_basket_value`` -> 'Average basket value'."""
    words = " ".join(_WORDS.get(word, word) for word in name.split("_"))
    return words[:1].upper() + words[1:]


def _number(value: Decimal | float, places: int | None = None) -> str:
    if places is not None:
        return f"{value:,.{places}f}"
    return f"{value:,}"


def cell(value: Any, column_kind: str | None) -> tuple[str, str]:
    """The text a reader sees, and the raw value the table sorts by."""
    if value is None:
        return "", ""
    raw = text(value)
    if isinstance(value, bool):
        return ("yes" if value else "no"), raw
    if column_kind == SHARE and isinstance(value, Decimal | float | int):
        return f"{value * 100:,.1f}%", raw
    if column_kind == CHANGE and isinstance(value, Decimal | float | int):
        return f"{value * 100:+,.1f}%", raw
    if column_kind == PERCENT and isinstance(value, Decimal | float | int):
        return f"{value:+,.2f}%", raw
    if column_kind == MONEY and isinstance(value, Decimal | float | int):
        return _number(value, 2), raw
    if column_kind == MONTH and isinstance(value, date) and not isinstance(value, datetime):
        return f"{value:%b %Y}", raw
    if column_kind == MONTH_OF_YEAR and isinstance(value, int) and 1 <= value <= 12:
        return calendar.month_name[value], raw
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}", raw
    if column_kind != CODE and isinstance(value, int | Decimal):
        return _number(value), raw
    return raw, raw
