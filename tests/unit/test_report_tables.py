"""The report's tables read to people (headings in words, percentages, months by name, money
with its currency), its data quality section draws the gates, and its first screen warns when
the latest load of a job warned or failed a gate."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from spark_etl.analytics.questions import QUESTIONS, Answer
from spark_etl.analytics.report import cells
from spark_etl.analytics.report.figures import figure
from spark_etl.analytics.report.page import quality_alerts, write_report
from spark_etl.analytics.report.section import Section

D = Decimal
Q = {question.number: question for question in QUESTIONS}
LATEST = (
    "job",
    "started_at",
    "extract",
    "status",
    "quality",
    "rows_read",
    "rows_set_aside",
    "set_aside_share",
    "gate_messages",
    "run_id",
)
CART_FAILED = (
    "cart_data_transform",
    datetime(2026, 12, 2, 3, 0),
    "snapshot",
    "failed",
    "fail",
    300,
    90,
    D("0.3"),
    "cart: 30% of lines set aside, above quality.cart.fail_set_aside_share 5%",
    uuid4(),
)
PRODUCT_PASSED = ("product_data_transform", datetime(2026, 12, 2, 2), "snapshot", "succeeded",
                  "pass", 10, 0, D("0"), None, uuid4())  # fmt: skip


@pytest.mark.parametrize(
    ("column", "value", "heading", "shown"),
    [
        ("revenue_change_mom", D("0.2500"), "Revenue change vs month before", "+25.0%"),
        ("change_vs_year_before", D("-0.8333"), "Change vs year before", "-83.3%"),
        ("revenue_share", D("0.5375"), "Revenue share", "53.8%"),
        ("pct_change", D("-12.50"), "Price change", "-12.50%"),
        ("revenue", D("12345.5"), "Revenue (EUR)", "12,345.50"),
        ("avg_basket_value", D("8.1"), "Average basket value (EUR)", "8.10"),
        ("month", date(2024, 1, 1), "Month", "Jan 2024"),
        ("month_of_year", 3, "Month of year", "March"),
        ("product_id", 12345, "Product ID", "12345"),
        ("quantity", 123456, "Quantity", "123,456"),
        ("price_versions", 3, "Price versions", "3"),
        ("rank_by_revenue", 1234, "Rank by revenue", "1,234"),
        ("family_rank", 3, "Family rank", "3"),
        ("partial", True, "Partial", "yes"),
        ("last_sale_at", datetime(2024, 3, 2, 9, 5, 7), "Last sale at", "2024-03-02 09:05"),
        ("sku", "MUG", "SKU", "MUG"),
        ("revenue", None, "Revenue (EUR)", ""),
    ],
)
def test_a_column_reads_in_words_and_its_values_as_people_write_them(column, value, heading, shown):
    assert cells.heading(column, "EUR") == heading
    assert cells.cell(value, cells.kind(column))[0] == shown


def test_a_table_sorts_by_the_raw_value_and_names_its_view_in_small_print(tmp_path):
    monthly = Answer(
        "monthly_kpi",
        ("month", "revenue", "revenue_change_mom"),
        [(date(2024, 1, 1), D("1000.00"), D("-0.5000"))],
    )
    section = Section(Q["0"], [monthly], [], {})

    page = write_report(tmp_path, [section], datetime(2024, 2, 1), "EUR").read_text("utf-8")

    assert (
        '<h3>Monthly KPI <small class="source">analytics.monthly_kpi · '
        '<a href="monthly_kpi.csv">CSV</a></small></h3>'
    ) in page
    assert (
        '<th title="month">Month</th><th title="revenue">Revenue (EUR)</th>'
        '<th title="revenue_change_mom">Revenue change vs month before</th>'
    ) in page
    assert (
        '<td data-sort="2024-01-01">Jan 2024</td><td data-sort="1000.00">1,000.00</td>'
        '<td data-sort="-0.5000">-50.0%</td>'
    ) in page


def test_the_first_screen_warns_when_the_latest_load_of_a_job_failed_a_gate(tmp_path):
    latest = Answer("data_quality_latest", LATEST, [CART_FAILED, PRODUCT_PASSED])
    section = Section(Q["14"], [latest], [], {})

    alerts = quality_alerts([section])
    page = write_report(tmp_path, [section], datetime(2026, 12, 2), "EUR").read_text("utf-8")

    assert alerts is not None and [row["job"] for row in alerts["rows"]] == ["cart_data_transform"]
    assert page.index('<div class="alert" role="alert">') < page.index("<nav>")
    assert (
        '<span class="verdict fail">failed a gate</span> cart_data_transform, latest run '
        "2026-12-02 03:00 UTC (rolled back): cart: 30% of lines set aside, above "
        "quality.cart.fail_set_aside_share 5%</p>"
    ) in page
    assert '<a href="#q14">See the data quality section.</a>' in page


def test_no_warning_when_every_latest_load_passed(tmp_path):
    section = Section(Q["14"], [Answer("data_quality_latest", LATEST, [PRODUCT_PASSED])], [], {})

    page = write_report(tmp_path, [section], datetime(2026, 12, 2), "EUR").read_text("utf-8")

    assert quality_alerts([section]) is None
    assert 'class="alert"' not in page


def test_the_set_aside_chart_draws_the_gates_as_dashed_lines_per_job():
    runs = Answer(
        "data_quality_runs",
        ("job", "started_at", "set_aside_share", "warn_set_aside_share", "fail_set_aside_share",
         "extract", "status", "quality", "rows_read", "rows_set_aside"),
        [
            ("cart_data_transform", datetime(2026, 12, 1), D("0.01"), D("0.02"), D("0.05"),
             "snapshot", "succeeded", "pass", 300, 3),
            ("cart_data_transform", datetime(2026, 12, 2), D("0.3"), D("0.02"), D("0.05"),
             "snapshot", "failed", "fail", 300, 90),
        ],
    )  # fmt: skip

    share, warn, fail = figure(Q["14"].charts[0], runs, "EUR").data

    assert list(share.y) == [0.01, 0.3] and share.mode == "lines+markers"
    assert (warn.name, warn.line.dash, warn.mode, list(warn.y)) == (
        "warn gate",
        "dash",
        "lines",
        [0.02, 0.02],
    )
    assert (fail.line.dash, fail.line.color, list(fail.y)) == ("dash", "#c44e52", [0.05, 0.05])
