"""The analytics declarations: each view's SQL in a file of its own, created in a declared
order, and the questions' YAML validated when it loads."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from spark_etl.analytics.questions import QUESTIONS, load_questions
from spark_etl.analytics.schema import (
    definition_hash,
    definition_sql,
    objects,
    view_names,
    views_folder,
)
from spark_etl.errors import ConfigError

VIEWS = Path(str(views_folder()))


@pytest.fixture
def views(tmp_path: Path) -> Path:
    """A copy of the package's views folder to break."""
    return Path(shutil.copytree(VIEWS, tmp_path / "views"))


def test_every_sql_file_is_created_by_exactly_one_declaration():
    declared = objects()
    files = sorted(path.stem for path in VIEWS.glob("*.sql"))

    assert sorted(declared) == files  # no file left out, none missing
    assert len(set(declared)) == len(declared)  # none created twice
    # one view per file, in the file of its name
    for name in declared:
        created = re.findall(
            r"^CREATE (?:MATERIALIZED )?VIEW (\w+)", (VIEWS / f"{name}.sql").read_text(), flags=re.M
        )
        assert created in ([], [name]), name
    assert len(view_names()) == len(
        re.findall(r"^CREATE (?:MATERIALIZED )?VIEW ", definition_sql(), flags=re.M)
    )


def test_a_sql_file_no_declaration_creates_is_refused(views):
    (views / "forgotten.sql").write_text("CREATE VIEW forgotten AS SELECT 1;\n")

    with pytest.raises(ConfigError, match=r"objects.yaml: 'objects' lists no forgotten "):
        objects(views)


def test_a_declaration_listing_a_file_twice_is_refused(views):
    manifest = views / "objects.yaml"
    manifest.write_text(manifest.read_text() + "  - sale\n")

    with pytest.raises(ConfigError, match=r"'objects.59': sale is listed twice"):
        objects(views)


def test_the_definition_hash_changes_with_any_file_and_with_the_order(views):
    before = definition_hash(views)
    assert definition_hash(views) == before
    sale = views / "sale.sql"
    sale.write_text(sale.read_text() + "-- a comment is a change too\n")
    edited = definition_hash(views)
    manifest = views / "objects.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "  - sale\n  - purchase_of_month\n", "  - purchase_of_month\n  - sale\n"
        )
    )

    assert len({before, edited, definition_hash(views)}) == 3


def test_every_question_is_loaded_in_the_order_of_its_file_and_names_views_that_exist():
    assert [question.number for question in QUESTIONS] == [str(n) for n in range(15)]
    known = set(view_names())
    for question in QUESTIONS:
        assert set(question.views) | {chart.view for chart in question.charts} <= known


def test_an_unknown_key_in_a_question_is_refused_naming_the_file_and_the_key(views):
    question = views / "questions" / "05_most_active_customers.yaml"
    question.write_text(
        question.read_text().replace("    kind: barh\n", "    kind: barh\n    limt: 5\n")
    )

    with pytest.raises(ConfigError) as raised:
        load_questions(views)

    assert str(raised.value) == (
        f"Question file {question} is invalid: unknown key 'charts.0.limt' (did you mean 'limit'?)."
    )


def test_a_wrong_value_in_a_question_is_refused_naming_the_file_and_the_key(views):
    question = views / "questions" / "05_most_active_customers.yaml"
    question.write_text(question.read_text().replace("unit: count", "unit: dozens"))

    with pytest.raises(
        ConfigError,
        match=r"05_most_active_customers.yaml is invalid: "
        r"'charts.0.measures.0': Value error, unknown unit 'dozens'",
    ):
        load_questions(views)


def test_a_question_naming_a_view_no_file_creates_is_refused(views):
    question = views / "questions" / "05_most_active_customers.yaml"
    question.write_text(
        question.read_text().replace(
            "views: [most_active_customers]", "views: [most_active_customer]"
        )
    )

    with pytest.raises(
        ConfigError,
        match=r"no file of views creates view 'most_active_customer' "
        r"\(did you mean 'most_active_customers'\?\)",
    ):
        load_questions(views)
