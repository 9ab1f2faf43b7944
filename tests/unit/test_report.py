"""The report draws the rows it is given, one mark each, and never fails on a NULL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from spark_etl.analytics.questions import QUESTIONS, Answer
from spark_etl.analytics.report.figures import figure
from spark_etl.analytics.report.page import key_figures_html, write_report
from spark_etl.analytics.report.section import Section

D = Decimal
Q = {question.number: question for question in QUESTIONS}
TOP_PRODUCTS = Answer(
    "top_products",
    ("product_id", "name", "quantity", "revenue", "revenue_share", "cumulative_revenue_share"),
    [  # as fetch_chart reads them: by revenue
        (7, "Stud Finder Weather-Resistant", 43, D("430.00"), D("0.5375"), D("0.5375")),
        (9, "Stud Finder Weather-Resistant", 25, D("250.00"), D("0.3125"), D("0.8500")),
        (4, "Kettle", 30, D("120.00"), D("0.1500"), D("1.0000")),
    ],
)


def test_bars_sharing_a_name_are_kept_apart_by_their_id_in_the_order_read():
    bars, line = figure(Q["1"].charts[0], TOP_PRODUCTS, "EUR").data

    assert list(bars.x) == [
        "Stud Finder Weather-Resistant (#7)",
        "Stud Finder Weather-Resistant (#9)",
        "Kettle (#4)",
    ]
    assert list(bars.y) == [430.0, 250.0, 120.0]  # 430 as in the table, not 680 = 430 + 250
    assert list(line.y) == [0.5375, 0.85, 1.0]


def test_a_line_per_family_draws_one_point_per_row_and_marks_partial_months():
    chart = Q["2"].charts[0]
    rows = Answer(
        "family_sales_monthly",
        (
            "sku",
            "month",
            "partial",
            "quantity",
            "revenue",
            "revenue_change_mom",
            "revenue_change_yoy",
            "family_rank",
        ),
        [
            ("KAF", date(2024, 1, 1), True, 3, D("30.00"), None, None, 1),
            ("KAF", date(2024, 2, 1), True, 1, D("10.00"), D("-0.6667"), None, 1),
            ("TEE", date(2024, 1, 1), True, 2, D("4.00"), None, None, 2),
            ("TEE", date(2024, 2, 1), False, 0, D("0"), D("-1.0000"), None, 2),
        ],
    )

    kaf, tee = figure(chart, rows, "EUR").data

    assert (kaf.name, list(kaf.x), list(kaf.y)) == (
        "KAF",
        [date(2024, 1, 1), date(2024, 2, 1)],
        [30.0, 10.0],
    )
    assert list(tee.y) == [4.0, 0.0]
    assert list(tee.marker.symbol) == ["circle-open", "circle"]


def test_segments_are_drawn_in_a_panel_each_with_the_unit_on_the_axis():
    rows = Answer(
        "avg_cart_size_by_segment",
        (
            "segment_type",
            "segment",
            "purchases",
            "avg_cart_size",
            "avg_lines_per_purchase",
            "avg_basket_value",
        ),
        [
            ("cohort_year", "2023", 4, D("2.00"), D("1.25"), D("24.50")),
            ("value_tier", "Q1", 3, D("2.33"), D("1.00"), D("11.67")),
        ],
    )

    fig = figure(Q["8"].charts[0], rows, "CHF")

    # two measures of different units x two segment types: four panels, one bar each
    assert [(trace.x[0], trace.y[0]) for trace in fig.data] == [
        ("2023", 24.5),
        ("2023", 2.0),
        ("Q1", 11.67),
        ("Q1", 2.33),
    ]
    assert fig.layout.yaxis.title.text == "basket value (CHF)"
    assert fig.layout.yaxis2.title.text == "basket size (items)"
    assert [a.text for a in fig.layout.annotations] == ["cohort_year"] * 2 + ["value_tier"] * 2


PRICE_CHANGES = Answer(
    "price_change_impact",
    (
        "product_id",
        "old_price",
        "new_price",
        "pct_change",
        "changed_at",
        "days_before",
        "days_after",
        "quantity_change",
        "family_quantity_change",
        "elasticity",
        "family_adjusted_elasticity",
        "complete_windows",
    ),
    [
        # from a price of 0: no percentage, no elasticity
        (
            1,
            D("0.00"),
            D("5.00"),
            None,
            datetime(2024, 3, 1),
            D("30"),
            D("30"),
            D("0.5"),
            None,
            None,
            None,
            True,
        ),
        (2, None, None, None, None, None, None, None, None, None, None, None),
    ],
)


def test_a_null_is_a_gap_and_never_an_error():
    fig = figure(Q["10"].charts[0], PRICE_CHANGES, "EUR")

    product, family = fig.data
    assert list(product.x) == ["2024-03-01 (#1)", " (#2)"]
    assert list(product.y) == [0.5, None]
    assert list(family.y) == [None, None]
    assert "plotly-graph-div" in fig.to_html(full_html=False, include_plotlyjs=False)


def test_the_report_is_written_with_nulls_in_every_kind_of_column(tmp_path):
    section = Section(Q["10"], [PRICE_CHANGES], [(Q["10"].charts[1], PRICE_CHANGES)], {})

    index = write_report(tmp_path, [section], datetime(2024, 1, 2), "EUR")

    page = index.read_text(encoding="utf-8")
    assert "<td>2</td>" + "<td></td>" * 11 in page
    assert (tmp_path / "plotly.min.js").is_file()


def test_a_chart_without_rows_says_so(tmp_path):
    nothing = Answer("price_change_impact", (), [])
    section = Section(Q["10"], [], [(Q["10"].charts[0], nothing)], {})

    page = write_report(tmp_path, [section], datetime(2024, 1, 2), "EUR").read_text("utf-8")

    assert figure(Q["10"].charts[0], nothing, "EUR") is None
    assert "No rows to chart." in page


KEY_FIGURES = Answer(
    "key_figures",
    (
        "month",
        "partial",
        "position",
        "measure",
        "unit",
        "value",
        "previous_month_value",
        "change_vs_previous_month",
        "year_before_value",
        "change_vs_year_before",
        "previous_month_partial",
        "year_before_partial",
    ),
    [
        (
            date(2024, 2, 1),
            False,
            1,
            "revenue",
            "currency",
            D("1234.50"),
            D("1000.00"),
            D("0.2345"),
            None,
            None,
            False,
            True,
        ),
        (
            date(2024, 2, 1),
            False,
            2,
            "sales",
            "cart lines",
            D("3"),
            D("4"),
            D("-0.2500"),
            D("3"),
            D("0.0000"),
            False,
            True,
        ),
    ],
)


def test_key_figures_say_which_months_are_archived_out_of_the_figures():
    period = Answer(
        "data_period",
        (
            "first_sale_at",
            "last_sale_at",
            "first_month",
            "last_month",
            "archived_months",
            "first_archived_month",
            "last_archived_month",
            "archived_on",
        ),
        [
            (
                datetime(2024, 1, 1, 0, 5),
                datetime(2024, 12, 30, 23),
                date(2024, 1, 1),
                date(2024, 12, 1),
                48,
                date(2020, 1, 1),
                date(2023, 12, 1),
                datetime(2026, 11, 26, 19, 27),
            )
        ],
    )

    cards = key_figures_html(Section(Q["0"], [KEY_FIGURES, period], [], {}), "EUR")

    assert (
        "Sales from 2024-01-01 00:05 to 2024-12-30 23:00 UTC. Not in these figures: 48 archived "
        "months (2020-01 to 2023-12), archived on 2026-11-26. Key figures of February 2024"
    ) in cards


def test_key_figures_show_value_and_change_against_the_month_before_and_the_year_before():
    period = Answer(
        "data_period",
        ("first_sale_at", "last_sale_at", "first_month", "last_month"),
        [(datetime(2023, 1, 15, 8), datetime(2024, 3, 2, 9), date(2023, 1, 1), date(2024, 3, 1))],
    )
    section = Section(Q["0"], [KEY_FIGURES, period], [], {})

    cards = key_figures_html(section, "EUR")

    assert "Sales from 2023-01-15 08:00 to 2024-03-02 09:00 UTC." in cards
    assert "Key figures of February 2024, against the month before" in cards
    assert '<div class="value"><span class="unit">EUR</span> <span>1,234.50</span></div>' in cards
    assert '<span class="up">▲ +23.4%</span> vs Jan 2024' in cards
    # nothing sold a year before, in a month the data starts inside of
    assert "no comparison vs Feb 2023 (partial month)" in cards
    assert '<div class="value"><span>3</span></div>' in cards
    assert '<span class="down">▼ -25.0%</span> vs Jan 2024' in cards
    assert '<span class="">■ +0.0%</span> vs Feb 2023 (partial month)' in cards


def test_key_figures_without_sales_say_so():
    empty = Section(Q["0"], [Answer("key_figures", KEY_FIGURES.columns, [])], [], {})

    assert key_figures_html(empty, "EUR") == '<p class="note">No sales yet: no key figures.</p>'


def test_names_reach_plotly_as_text_and_labels_are_categories():
    rows = Answer(
        "most_active_customers",
        ("customer_id", "name", "purchases", "quantity", "revenue", "rank"),
        [(5, "Bolt <M8> & Nut %{x}", 3, 4, D("5.00"), 1)],
    )

    [bar] = figure(Q["5"].charts[0], rows, "EUR").data

    # Plotly reads labels as HTML: "<M8>" would vanish and "&" start an entity
    assert list(bar.y) == ["Bolt &lt;M8> &amp; Nut %{x} (#5)"]
    assert "%{fullData.name}" in bar.hovertemplate and "Bolt" not in bar.hovertemplate


def test_basket_sizes_are_categories_so_the_10_plus_bar_is_drawn():
    rows = Answer(
        "basket_size_distribution",
        ("cart_size", "items", "purchases", "purchase_share", "revenue", "revenue_share",
         "avg_basket_value"),
        [(9, "9", 1, D("0.5"), D("9.00"), D("0.3"), D("9.00")),
         (10, "10+", 1, D("0.5"), D("20.00"), D("0.7"), D("20.00"))],
    )  # fmt: skip

    fig = figure(Q["3"].charts[0], rows, "EUR")

    assert list(fig.data[0].x) == ["9", "10+"]
    assert fig.layout.xaxis.type == "category" and fig.layout.xaxis2.type == "category"
