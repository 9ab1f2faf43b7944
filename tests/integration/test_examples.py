"""The README's two examples, run for real: a fourth entity from one YAML file, and the
built-in entities loaded from another shop's export through a mapping template."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from spark_etl.cli import main as cli
from spark_etl.definitions import load_entities, load_mapping
from spark_etl.errors import InputError
from spark_etl.runs import pipeline
from spark_etl.runs.run_context import RunContext
from tests.helpers import REPO, query, write_csv

pytestmark = pytest.mark.integration

ENTITIES = REPO / "examples" / "entities"
TEMPLATE = REPO / "examples" / "mappings" / "other_shop.yaml"
REVIEW_HEADER = ("id", "product_id", "customer_id", "rating", "comment", "created_at")


def run(spark, settings, connection, folder: Path, job: str, **context) -> list[str]:
    started: list[str] = []
    ctx = RunContext(settings, connection, str(folder), datetime(2024, 6, 1), **context)
    pipeline.run(spark, ctx, job, started)
    return started


def test_a_fourth_entity_loads_from_its_definition_alone(spark, db_settings, connection, tmp_path):
    write_csv(tmp_path, "customers", [("1", "Ada", "2020-01-01"), ("2", "Bert", "2020-01-01")])
    write_csv(tmp_path, "products", [("10", "Teapot", "19.99", "TEA-01", "2024-03-10")])
    write_csv(tmp_path, "carts", [("100", "10", "1", "1", "2024-03-12", "")])
    reviews = [
        ("7", "10", "1", "5", "  Pours   well ", "2024-03-12 10:00:00"),
        ("8", "10", "2", "2", "", "2024-03-05"),  # before the product was created: flagged
        ("9", "10", "2", "6", "Too good", "2024-03-13"),
        ("11", "99", "1", "4", "", "2024-03-13"),
        ("12", "10", "1", "3", "", "2024-04-30 23:59:59"),
    ]
    write_csv(tmp_path, "reviews", reviews, REVIEW_HEADER)
    model = load_entities(ENTITIES)

    started = run(spark, db_settings, connection, tmp_path, "all", model=model)

    assert [entity.entity for entity in model.entities] == ["customer", "product", "cart", "review"]
    assert len(started) == 4
    assert query(connection, db_settings, "SELECT * FROM review ORDER BY review_id") == [
        (7, 10, 1, 5, "Pours well", datetime(2024, 3, 12, 10)),
        (8, 10, 2, 2, None, datetime(2024, 3, 5)),
        (12, 10, 1, 3, None, datetime(2024, 4, 30, 23, 59, 59)),
    ]
    assert query(
        connection,
        db_settings,
        "SELECT raw_record->>'id', reasons FROM etl_reject WHERE job = 'review_data_transform' "
        "ORDER BY 1",
    ) == [
        ("11", ["product_id not found in product"]),
        ("9", ["rating is not a whole number from 1 to 5"]),
    ]
    assert query(
        connection,
        db_settings,
        "SELECT record_id, flag FROM etl_flag WHERE job = 'review_data_transform'",
    ) == [(8, "written before its product")]
    assert query(
        connection,
        db_settings,
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'review'::regclass "
        "ORDER BY 1",
    ) == [("review_2024_03",), ("review_2024_04",), ("review_default",)]
    assert query(
        connection,
        db_settings,
        "SELECT conname FROM pg_constraint WHERE conrelid = 'review'::regclass AND contype = 'f' "
        "ORDER BY 1",
    ) == [("review_customer_id_fkey",), ("review_product_id_fkey",)]


def test_an_appended_entity_never_rewrites_a_loaded_row(spark, db_settings, connection, tmp_path):
    write_csv(tmp_path, "customers", [("1", "Ada", "2020-01-01")])
    write_csv(tmp_path, "products", [("10", "Teapot", "19.99", "TEA-01", "2020-01-01")])
    write_csv(tmp_path, "reviews", [("7", "10", "1", "5", "Great", "2024-03-12")], REVIEW_HEADER)
    model = load_entities(ENTITIES)
    for job in ("customer_data_transform", "product_data_transform", "review_data_transform"):
        run(spark, db_settings, connection, tmp_path, job, model=model)
    write_csv(
        tmp_path / "again",
        "reviews",
        [
            ("7", "10", "1", "1", "Changed my mind", "2024-03-12"),
            ("8", "10", "1", "4", "", "2024-05-01"),
        ],
        REVIEW_HEADER,
    )

    run(spark, db_settings, connection, tmp_path / "again", "review_data_transform", model=model)

    assert query(
        connection, db_settings, "SELECT review_id, rating, comment FROM review ORDER BY 1"
    ) == [
        (7, 5, "Great"),
        (8, 4, None),
    ]
    assert query(
        connection,
        db_settings,
        "SELECT rows_read, rows_loaded, rows_inserted, rows_updated FROM etl_run "
        "WHERE job = 'review_data_transform' ORDER BY started_at",
    ) == [(1, 1, 1, 0), (2, 2, 1, 0)]


def write_other_shop(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clients.csv").write_text(
        "client_no;first_name;last_name;registered\n"
        "501;Ada;Lovelace;2024-03-01T10:15:00+02:00\n"
        "502;Alan;Turing;2024-03-02T00:30:00-05:00\n"
        "503;Grace;Hopper;2024-03-02 00:30:00\n",
        encoding="utf-8",
    )
    (folder / "articles.csv").write_text(
        "article_no;title;price_cents;article_code;listed_at\n"
        "9001;Teapot;1999;TEA-01;2024-01-15T09:00:00+01:00\n"
        "9002;Cup;250;CUP-7;2024-01-15T09:00:00Z\n"
        "9003;Saucer;12.5;SAU-1;2024-01-15T09:00:00Z\n",
        encoding="utf-8",
    )
    return folder


def test_another_shops_export_loads_through_a_mapping_template(
    spark, db_settings, connection, tmp_path
):
    folder = write_other_shop(tmp_path / "other")
    model = load_entities()
    mapping = load_mapping(TEMPLATE, model)

    for job in ("customer_data_transform", "product_data_transform"):
        run(
            spark, db_settings, connection, folder, job, mapping=mapping, mapping_file=str(TEMPLATE)
        )

    assert query(connection, db_settings, "SELECT * FROM customer ORDER BY customer_id") == [
        (501, "Ada Lovelace", datetime(2024, 3, 1, 8, 15)),
        (502, "Alan Turing", datetime(2024, 3, 2, 5, 30)),
    ]
    assert query(
        connection,
        db_settings,
        "SELECT p.product_id, p.name, p.sku, v.variation, v.full_sku, v.price, p.created_at "
        "FROM product p JOIN product_variation v USING (product_id) ORDER BY 1",
    ) == [
        (9001, "Teapot", "TEA", "01", "TEA-01", Decimal("19.99"), datetime(2024, 1, 15, 8)),
        (9002, "Cup", "CUP", "7", "CUP-7", Decimal("2.50"), datetime(2024, 1, 15, 9)),
    ]
    assert query(
        connection, db_settings, "SELECT job, raw_record, reasons FROM etl_reject ORDER BY job"
    ) == [
        (
            "customer_data_transform",
            {"id": "503", "name": "Grace Hopper", "created_at": "2024-03-02 00:30:00"},
            ["created_at is not a date (yyyy-MM-dd'T'HH:mm:ssXXX)"],
        ),
        (
            "product_data_transform",
            {
                "id": "9003",
                "name": "Saucer",
                "price": "0.125",
                "sku": "SAU-1",
                "created_at": "2024-01-15T09:00:00Z",
            },
            ["price is not an amount with at most 10 digits and 2 decimals"],
        ),
    ]


def test_a_template_naming_a_missing_column_stops_before_reading(
    spark, db_settings, connection, tmp_path
):
    folder = write_other_shop(tmp_path / "other")
    template = tmp_path / "typo.yaml"
    template.write_text(TEMPLATE.read_text().replace("id: client_no", "id: client_number"))
    mapping = load_mapping(template, load_entities())

    with pytest.raises(InputError) as error:
        run(
            spark,
            db_settings,
            connection,
            folder,
            "customer_data_transform",
            mapping=mapping,
            mapping_file=str(template),
        )

    assert str(error.value) == (
        f"Mapping template {template}, key 'entities.customer.columns.id' (column "
        f"'client_number'): {folder / 'clients.csv'} has no column `client_number` (it has: "
        "client_no, first_name, last_name, registered)."
    )


def test_an_expression_that_does_not_parse_exits_2_naming_the_key(
    spark, cli_env, tmp_path, monkeypatch, capsys
):
    @contextmanager
    def shared_session(*args, **kwargs):
        yield spark  # the test session, left running for the other tests

    monkeypatch.setattr(cli, "spark_session", shared_session)
    folder = write_other_shop(tmp_path / "other")
    template = tmp_path / "broken.yaml"
    template.write_text(TEMPLATE.read_text().replace("price_cents / 100", "price_cents /"))

    code = cli.main(
        "product_data_transform",
        ["--input-dir", str(folder), "--config", str(cli_env), "--mapping", str(template)],
    )

    error = capsys.readouterr().err.splitlines()[-1]  # after the progress lines
    assert code == 2
    assert error == (
        f"error: Mapping template {template}, key 'entities.product.columns.price' (expression "
        "'price_cents /'): [PARSE_SYNTAX_ERROR] Syntax error at or near end of input "
        "(line 1, pos 13) "
        f"({folder / 'articles.csv'} has: article_no, title, price_cents, article_code, "
        "listed_at)."
    )


def test_a_daily_partitioned_entity_gets_one_partition_per_day(
    spark, db_settings, connection, tmp_path
):
    folder = tmp_path / "entities"
    folder.mkdir()
    daily = (ENTITIES / "review.yaml").read_text().replace("interval: month", "interval: day")
    (folder / "review.yaml").write_text(daily, encoding="utf-8")
    model = load_entities(folder)
    write_csv(tmp_path, "customers", [("1", "Ada", "2020-01-01")])
    write_csv(tmp_path, "products", [("10", "Teapot", "19.99", "TEA-01", "2020-01-01")])
    reviews = [
        ("7", "10", "1", "5", "", "2024-03-12 23:59:59"),
        ("8", "10", "1", "4", "", "2024-03-13"),
        ("9", "10", "1", "3", "", "2024-03-13 12:00:00"),
    ]
    write_csv(tmp_path, "reviews", reviews, REVIEW_HEADER)
    for job in ("customer_data_transform", "product_data_transform", "review_data_transform"):
        run(spark, db_settings, connection, tmp_path, job, model=model)

    assert query(
        connection,
        db_settings,
        "SELECT tableoid::regclass::text, review_id FROM review ORDER BY review_id",
    ) == [("review_2024_03_12", 7), ("review_2024_03_13", 8), ("review_2024_03_13", 9)]
