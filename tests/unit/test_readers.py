"""Readers: the input contract in CSV, JSON Lines and Parquet, and the errors users see."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from spark_etl.config import InputSettings
from spark_etl.definitions import load_entities
from spark_etl.errors import InputError
from spark_etl.io.readers import local_csv_header, read_source, resolve_source
from spark_etl.transforms.source import CORRUPT_RECORD, SourceSpec

CUSTOMERS = SourceSpec.of(load_entities().entity("customer"))
PRODUCTS = SourceSpec.of(load_entities().entity("product"))

CSV = InputSettings(format="auto", csv_multiline=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rows(frame, *columns):
    return sorted((tuple(row[c] for c in columns) for row in frame.collect()), key=repr)


def test_csv_with_rfc4180_quoting_commas_and_umlauts_reads_as_text(spark, tmp_path):
    write(
        tmp_path / "customers.csv",
        'id,name,created_at\n1,"Müller, Schmidt & Co. KG",2020-01-01\n2,"""Weiß"" GmbH",2020-02-01 10:00:00\n3,Jäger,\n',
    )

    frame = read_source(spark, str(tmp_path), CUSTOMERS, CSV)

    assert rows(frame, "id", "name", "created_at", CORRUPT_RECORD) == [
        ("1", "Müller, Schmidt & Co. KG", "2020-01-01", None),
        ("2", '"Weiß" GmbH', "2020-02-01 10:00:00", None),
        ("3", "Jäger", None, None),
    ]


def test_csv_columns_follow_the_header_whatever_their_order(spark, tmp_path):
    write(tmp_path / "customers.csv", "\ufeffcreated_at,id,name\n2020-01-01,1,Ada\n")

    frame = read_source(spark, str(tmp_path), CUSTOMERS, CSV)

    assert rows(frame, "id", "name", "created_at") == [("1", "Ada", "2020-01-01")]


def test_csv_row_with_too_many_fields_is_marked_malformed(spark, tmp_path):
    write(tmp_path / "customers.csv", "id,name,created_at\n1,Ada,2020-01-01,extra\n")

    frame = read_source(spark, str(tmp_path), CUSTOMERS, CSV)

    assert rows(frame, "id", CORRUPT_RECORD) == [("1", "1,Ada,2020-01-01,extra")]


def test_header_lacking_a_column_and_having_an_unknown_one_is_refused(spark, tmp_path):
    path = write(tmp_path / "products.csv", "id,name,cost,sku,created_at\n")

    with pytest.raises(InputError) as raised:
        read_source(spark, str(tmp_path), PRODUCTS, CSV)

    assert str(raised.value) == (
        f"{path} lacks column(s) price and has unknown column(s) cost; "
        "expected the header id,name,price,sku,created_at."
    )


def test_empty_file_is_refused(spark, tmp_path):
    path = write(tmp_path / "customers.csv", "")

    with pytest.raises(InputError) as raised:
        read_source(spark, str(tmp_path), CUSTOMERS, CSV)

    assert str(raised.value) == f"{path} is empty; it needs a header row: id,name,created_at."


def test_json_lines_read_with_numbers_as_text_and_broken_lines_marked(spark, tmp_path):
    write(
        tmp_path / "customers.jsonl",
        '{"id": 1, "name": "Ada", "created_at": "2020-01-01"}\n{"id": 2, "name": \n',
    )

    frame = read_source(spark, str(tmp_path), CUSTOMERS, CSV)

    assert rows(frame, "id", "name", CORRUPT_RECORD) == [
        ("1", "Ada", None),
        (None, None, '{"id": 2, "name": '),
    ]


def test_parquet_types_are_rendered_as_contract_text(spark, tmp_path):
    frame = spark.createDataFrame(
        [(1, "Kaffee", "12.50", "KAF-001", "2020-01-01 00:00:00")],
        "id long, name string, price string, sku string, created_at string",
    ).selectExpr(
        "id",
        "name",
        "CAST(price AS decimal(12,2)) AS price",
        "sku",
        "CAST(created_at AS timestamp) AS created_at",
    )
    frame.write.parquet(str(tmp_path / "products.parquet"))

    read = read_source(spark, str(tmp_path), PRODUCTS, CSV)

    assert rows(read, "id", "price", "created_at") == [("1", "12.50", "2020-01-01 00:00:00")]


def test_parquet_lacking_a_column_is_refused(spark, tmp_path):
    spark.createDataFrame([(1, "Ada")], "id long, name string").write.parquet(
        str(tmp_path / "customers.parquet")
    )

    with pytest.raises(InputError, match="lacks column\\(s\\) created_at"):
        read_source(spark, str(tmp_path), CUSTOMERS, CSV)


def test_two_extracts_of_one_entity_are_ambiguous(spark, tmp_path):
    write(tmp_path / "customers.csv", "id,name,created_at\n")
    write(tmp_path / "customers.jsonl", "")

    with pytest.raises(InputError) as raised:
        resolve_source(spark, str(tmp_path), CUSTOMERS, "auto")

    assert str(raised.value) == (
        f"Several customer extracts in {tmp_path} ({tmp_path}/customers.csv, "
        f"{tmp_path}/customers.jsonl); keep one or set input.format."
    )


def test_configured_format_picks_that_extension_only(spark, tmp_path):
    write(tmp_path / "customers.csv", "id,name,created_at\n")
    write(tmp_path / "customers.jsonl", "")

    assert resolve_source(spark, str(tmp_path), CUSTOMERS, "jsonl") == (
        f"{tmp_path}/customers.jsonl",
        "jsonl",
    )


def test_missing_input_directory_is_named(spark, tmp_path):
    with pytest.raises(InputError) as raised:
        resolve_source(spark, str(tmp_path / "nowhere"), CUSTOMERS, "auto")

    assert (
        str(raised.value)
        == f"Input directory {tmp_path}/nowhere does not exist; pass --input-dir DIR."
    )


def test_file_that_is_not_utf8_is_refused_with_the_offending_byte(spark, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes("id,name,created_at\n1,Müller,2020-01-01\n".encode("latin-1"))

    with pytest.raises(InputError) as raised:
        read_source(spark, str(tmp_path), CUSTOMERS, CSV)

    assert str(raised.value) == (
        f"{path} is not UTF-8 (byte 0xfc at offset 22); "
        "convert it, for example: iconv -f latin1 -t utf-8 IN > OUT."
    )


def test_only_the_formats_a_definition_accepts_are_looked_for(spark, tmp_path):
    (tmp_path / "customers.jsonl").write_text('{"id": "1"}\n', encoding="utf-8")
    csv_only = SourceSpec("customer", "customers", ("id", "name", "created_at"), formats=("csv",))

    with pytest.raises(InputError) as missing:
        resolve_source(spark, str(tmp_path), csv_only, "auto")
    with pytest.raises(InputError) as refused:
        resolve_source(spark, str(tmp_path), csv_only, "jsonl")

    assert str(missing.value) == f"No customers.csv in {tmp_path}; put the customer extract there."
    assert str(refused.value) == (
        "The customer extract is read as csv (source.formats of its definition), not jsonl; "
        "set input.format to one of them or auto."
    )


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("id,name,created_at", ","),
        ('"id","name",created_at', ","),  # quoted names
        ("\ufeffcreated_at ,id, name", ","),  # a byte-order mark, spaces
        ('id;"na""me";created_at', ";"),  # another delimiter, a doubled quote
    ],
)
def test_a_local_header_is_read_as_spark_reads_it_without_a_job(spark, tmp_path, header, delimiter):
    path = write(tmp_path / "customers.csv", f"{header}\n1{delimiter}Ada{delimiter}2020-01-01\n")
    spec = replace(CUSTOMERS, delimiter=delimiter) if delimiter != "," else CUSTOMERS
    by_spark = (
        spark.read.option("header", True)
        .option("sep", delimiter)
        .option("quote", '"')
        .option("escape", '"')
        .csv(str(path))
        .columns
    )

    assert local_csv_header(str(path), spec) == by_spark


def test_spark_reads_the_header_of_what_it_alone_reads_as_spark_does(tmp_path):
    folder = tmp_path / "parts"
    write(folder / "part-0.csv", "id,name,created_at\n")
    write(folder / "part-1.csv", "id,name,created_at\n")
    assert local_csv_header(str(folder), CUSTOMERS) == ["id", "name", "created_at"]

    write(folder / "part-2.csv", "created_at,id,name\n")  # headers that differ
    empty_name = write(tmp_path / "a" / "customers.csv", "id,,created_at\n")  # Spark names it _c1
    repeated = write(tmp_path / "b" / "customers.csv", "id,ID,created_at\n")  # Spark renames both
    compressed = tmp_path / "c" / "customers.csv.gz"
    compressed.parent.mkdir()
    compressed.write_bytes(b"\x1f\x8b")
    several = replace(CUSTOMERS, delimiter="||")  # Python's csv takes one character
    for path, spec in (
        (folder, CUSTOMERS),
        (empty_name, CUSTOMERS),
        (repeated, CUSTOMERS),
        (compressed, CUSTOMERS),
        (write(tmp_path / "d" / "customers.csv", "id||name\n"), several),
        ("hdfs://namenode/extracts/customers.csv", CUSTOMERS),
    ):
        assert local_csv_header(str(path), spec) is None, path
