"""How the report writes a value: in a table cell, as an axis label, as chart text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | Decimal):
        return str(value)
    return str(value)


def label(value: Any) -> str:
    """A value as an axis label: a timestamp at midnight as its date, others to the minute."""
    if isinstance(value, datetime):
        return (
            f"{value:%Y-%m-%d}"
            if value.time() == datetime.min.time()
            else f"{value:%Y-%m-%d %H:%M}"
        )
    return text(value)


def chart_text(value: Any) -> str:
    """A value as chart text: Plotly reads labels as a little HTML (``<br>``, ``<b>``, links),
    so a name like ``Bolt <M8> & Nut`` is escaped to be shown as written."""
    return label(value).replace("&", "&amp;").replace("<", "&lt;")
