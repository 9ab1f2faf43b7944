"""The business questions the analytics views answer, declared in YAML beside their SQL.

Each question is a file of ``views/questions`` (``NN_<title>.yaml``, shown in the order of NN):
its title, definition, the views that answer it and the charts drawn from them. The files are
validated when loaded: an unknown key, a wrong type or value, or a view no file of ``views``
creates is an error naming the file and the key.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import ConfigDict, TypeAdapter, ValidationError

from spark_etl.analytics.schema import VIEWS_DIR, view_names, views_folder
from spark_etl.config import read_yaml
from spark_etl.errors import ConfigError

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:  # Python 3.10 has it in importlib.abc only
        from importlib.abc import Traversable

QUESTIONS_DIR = "questions"
QUESTION_FILE = re.compile(r"^(\d\d)_[a-z0-9_]+\.yaml$")
UNITS = ("currency", "share", "count", "items", "days", "per_day", "per_month", "index")
KINDS = ("bar", "barh", "line", "pareto", "heatmap")
LINES = ("solid", "dash", "dot")
# unknown keys are errors: a misspelt optional key would otherwise be silently ignored
_STRICT: ConfigDict = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Measure:
    """A column a chart draws, its axis title and unit: currency (the report's currency),
    share (a fraction, shown as %), count, items, days, per_day, per_month or index; on a line
    chart, a ``dash`` or ``dot`` line without markers draws a threshold such as a gate."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    column: str
    label: str
    unit: str
    line: str = "solid"  # of a line chart: solid (with markers), dash or dot (a threshold)
    colour: str | None = None  # a CSS colour; default: the chart's palette

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}")
        if self.line not in LINES:
            raise ValueError(f"unknown line {self.line!r}; choose one of: {', '.join(LINES)}")


class Condition(NamedTuple):
    """One filter of a chart's rows: ``column operator value`` (a tuple, as before)."""

    column: str
    operator: str
    value: Any


@dataclass(frozen=True)
class Chart:
    """One chart of a question, drawn from the rows of one view that ``order_by``, ``where``
    and ``limit`` select in SQL (the report never aggregates, and never reads a whole view for a
    chart): one mark per row. ``kind``: bar, barh, line, pareto (bars of the first measure, a
    line of the second on its own axis) or heatmap (x by ``series``, coloured by the measure).
    Labels are the ``x`` columns, followed by ``key`` (an id) where labels alone may repeat;
    ``series`` draws one line (or heatmap row) per value of that column; ``facet`` puts each
    value of that column in a panel of its own, as does each measure but with pareto; ``hover``
    columns are shown beside the values when pointing at a mark."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    view: str
    kind: str
    title: str
    x: tuple[str, ...]
    measures: tuple[Measure, ...]
    order_by: tuple[str, ...]
    limit: int | None = None
    where: tuple[Condition, ...] = ()  # AND-ed
    key: str | None = None
    series: str | None = None
    facet: str | None = None
    hover: tuple[str, ...] = ()
    x_label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown chart kind {self.kind!r}")


@dataclass(frozen=True)
class Question:
    """One business question: the views that answer it, in the order they are shown, and the
    charts drawn from them."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    number: str
    title: str
    definition: str
    views: tuple[str, ...]
    order_by: tuple[str, ...]  # of the first view; the others are ordered by all their columns
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class Answer:
    """Rows of one view as read: its column names and the rows in their order."""

    view: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _describe(error: Any) -> str:
    """One problem of a validation, naming the key path and, for an unknown key, the nearest
    valid one."""
    location = [str(part) for part in error["loc"]]
    key = ".".join(location) or "(top level)"
    if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        keys = [part for part in error["loc"][:-1] if isinstance(part, str)]
        owner = {"charts": Chart, "measures": Measure}.get(keys[-1], Question) if keys else Question
        close = difflib.get_close_matches(location[-1], [f.name for f in fields(owner)], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{key}'{hint}"
    return f"'{key}': {error['msg']}"


def parse_question(data: Any, where: str) -> Question:
    """A question from a file's data; an error names ``where`` (the file) and each bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of keys, not {type(data).__name__}.")
    try:
        return TypeAdapter(Question).validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"Question file {where} is invalid: {problems}.") from None


def load_questions(folder: Traversable | None = None) -> tuple[Question, ...]:
    """Every question of ``folder`` (by default the package's), in the order of the numbers
    their files start with; the number in a file must be that of its name, and every view it
    names must be one the schema's files create."""
    root = views_folder() if folder is None else folder
    directory = root.joinpath(QUESTIONS_DIR)
    files = sorted((f for f in directory.iterdir() if f.name.endswith(".yaml")), key=_name)
    known = set(view_names(root))
    questions: list[Question] = []
    for file in files:
        where = _where(file, folder)
        match = QUESTION_FILE.match(file.name)
        if match is None:
            raise ConfigError(f"{where}: name a question file NN_<title>.yaml (NN: its number).")
        question = parse_question(read_yaml(file, where), where)
        if question.number != str(int(match[1])):
            raise ConfigError(
                f"{where}: 'number' is {question.number!r}, its name says {match[1]}."
            )
        named = [*question.views, *(chart.view for chart in question.charts)]
        for view in named:
            if view not in known:
                close = difflib.get_close_matches(view, sorted(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{where}: no file of views creates view '{view}'{hint}.")
        if question.number in (earlier.number for earlier in questions):
            raise ConfigError(f"{where}: question {question.number} has another file too.")
        questions.append(question)
    return tuple(questions)


def _where(file: Traversable, folder: Traversable | None) -> str:
    """A question file as an error names it: the package's by its path in the package."""
    if folder is None:
        return f"spark_etl/analytics/{VIEWS_DIR}/{QUESTIONS_DIR}/{file.name}"
    return str(file)


def _name(file: Traversable) -> str:
    return file.name


QUESTIONS: tuple[Question, ...] = load_questions()
