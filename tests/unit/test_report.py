"""The report draws the rows it is given, one mark each, and never fails on a NULL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from spark_etl.analytics import QUESTIONS, Answer, Chart
from spark_etl.report import _chart_points, chart_answer, chart_svg, write_report

D = Decimal
Q = {question.number: question for question in QUESTIONS}
TOP_PRODUCTS = Answer(
    "top_products",
    ("rank_by_quantity", "product_id", "name", "quantity", "revenue"),
    [
        (1, 7, "Stud Finder Weather-Resistant", 43, D("430.00")),
        (2, 9, "Stud Finder Weather-Resistant", 25, D("250.00")),
        (3, 4, "Kettle", 30, D("90.00")),
    ],
)


def test_bars_sharing_a_name_are_kept_apart_by_their_id_and_sorted_by_the_measure():
    labels, values = _chart_points(Q["1"].chart, TOP_PRODUCTS)

    assert labels == [
        "Stud Finder Weather-Resistant (#7)",
        "Kettle (#4)",
        "Stud Finder Weather-Resistant (#9)",
    ]
    assert values == [43.0, 30.0, 25.0]  # 43 as in the table, not 68 = 43 + 25


def test_top_keeps_the_largest_values():
    labels, values = _chart_points(
        Chart("barh", ("name",), "quantity", top=2, key="product_id"), TOP_PRODUCTS
    )

    assert (labels, values) == (["Stud Finder Weather-Resistant (#7)", "Kettle (#4)"], [43.0, 30.0])


def test_the_monthly_chart_draws_the_summed_view_not_a_sum_of_its_own():
    per_product = Answer(
        "product_sales_monthly",
        ("month", "product_id", "revenue"),
        [(datetime(2024, 1, 1), 1, D("5"))],
    )
    monthly = Answer(
        "sales_monthly", ("month", "quantity", "revenue"), [(datetime(2024, 1, 1), 3, D("12.50"))]
    )

    answer = chart_answer(Q["2"], [per_product, monthly])

    assert answer is monthly
    assert _chart_points(Q["2"].chart, answer) == (["2024-01-01 00:00:00"], [12.5])


PRICE_CHANGES = Answer(
    "price_change_impact",
    ("product_id", "old_price", "new_price", "pct_change", "quantity_change"),
    [
        (1, D("0.00"), D("5.00"), None, D("0.5")),  # from a price of 0: no percentage
        (2, D("10.00"), D("11.00"), D("10.0"), None),
        (3, D("10.00"), D("12.00"), D("20.0"), D("-0.25")),
    ],
)


def test_a_null_is_no_point_and_never_an_error():
    assert _chart_points(Q["10"].chart, PRICE_CHANGES) == (["20.0"], [-0.25])
    assert chart_svg(Q["10"], PRICE_CHANGES).startswith("<svg")


def test_the_report_is_written_with_nulls_in_every_kind_of_column(tmp_path):
    nulls = Answer("price_change_impact", PRICE_CHANGES.columns, [(4, None, None, None, None)])

    index = write_report(tmp_path, [(Q["10"], [nulls])], datetime(2024, 1, 2))

    page = index.read_text(encoding="utf-8")
    assert "<td>4</td><td></td><td></td><td></td><td></td>" in page
    assert (tmp_path / "price_change_impact.csv").read_text(encoding="utf-8").splitlines() == [
        "product_id,old_price,new_price,pct_change,quantity_change",
        "4,,,,",
    ]
