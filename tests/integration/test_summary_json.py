"""--summary-json: one document per load invocation, valid against its schema, with the runs'
counts, times and gate verdicts, the exit code and its meaning; - writes it to stdout and the
table to stderr; a folder that does not exist is refused before anything starts."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from spark_etl.cli import main as cli
from spark_etl.local.datagen import DataSpec, generate

pytestmark = pytest.mark.integration
SCHEMA = json.loads(
    resources.files("spark_etl.cli").joinpath("summary.schema.json").read_text(encoding="utf-8")
)


def test_a_load_writes_its_summary_and_a_failed_gate_says_exit_4(shared, cli_env, tmp_path, capsys):
    generate(tmp_path / "in", DataSpec(200, 20, 10, seed=4, broken_fraction=0.0))
    target = tmp_path / "out" / "summary.json"
    target.parent.mkdir()

    code = cli.main(
        "all",
        [
            "--input-dir",
            str(tmp_path / "in"),
            "--config",
            str(cli_env),
            "--summary-json",
            str(target),
        ],
    )

    assert code == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert (document["job"], document["exit_code"], document["meaning"], document["error"]) == (
        "all",
        0,
        "done",
        None,
    )
    assert [(run["job"], run["status"], run["counts"]["read"]) for run in document["runs"]] == [
        ("customer_data_transform", "succeeded", 20),
        ("product_data_transform", "succeeded", 10),
        ("cart_data_transform", "succeeded", 200),
    ]
    assert set(document["runs"][0]["seconds"]) == {"read_validate", "stage", "merge"}
    assert list(tmp_path.joinpath("out").iterdir()) == [target]  # written atomically: no leftovers

    gated = cli_env.with_name("gated.yaml")
    gated.write_text(
        cli_env.read_text(encoding="utf-8") + "quality:\n  cart: {fail_row_count_change: 0.5}\n"
        "  customer: {warn_set_aside_share: 0.0, fail_set_aside_share: 0.5}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    code = cli.main(
        "cart",
        ["--input-dir", str(tmp_path / "in"), "--config", str(gated), "--summary-json", "-"],
    )

    out, err = capsys.readouterr()
    assert code == 0
    document = json.loads(out)  # stdout holds the document alone
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    table = err.splitlines()[-4:]  # the table went to stderr, then what the gate said
    assert table[0].startswith("job ") and table[2].startswith("cart_data_transform")
    assert table[3].startswith("quality note: cart: row count not checked")
    (run,) = document["runs"]
    assert (run["job"], run["quality"], run["extract"]) == (
        "cart_data_transform",
        "pass",
        "snapshot",
    )
    assert run["gates"] == [
        {
            "gate": "row_count_change",
            "figure": None,
            "warn_at": None,
            "fail_at": 0.5,
            "verdict": "unchecked",
            "message": "cart: row count not checked: 1 earlier successful snapshot run to "
            "compare with, 4 needed",
        }
    ]


def test_a_gate_failure_and_its_exit_code_are_in_the_summary(shared, cli_env, tmp_path):
    generate(tmp_path / "in", DataSpec(100, 10, 10, seed=6, broken_fraction=0.5))
    gated = cli_env.with_name("gated.yaml")
    gated.write_text(
        cli_env.read_text(encoding="utf-8")
        + "quality:\n  customer: {fail_set_aside_share: 0.05}\n",
        encoding="utf-8",
    )
    target = tmp_path / "summary.json"

    code = cli.main(
        "customer",
        [
            "--input-dir",
            str(tmp_path / "in"),
            "--config",
            str(gated),
            "--summary-json",
            str(target),
        ],
    )

    document = json.loads(target.read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert code == 4
    assert document["exit_code"] == 4
    assert (
        document["meaning"] == "a quality gate stopped a load: it was rolled back, its rejects kept"
    )
    (run,) = document["runs"]
    assert (run["status"], run["quality"], run["counts"]["loaded"]) == ("failed", "fail", 0)
    assert run["gates"][0]["verdict"] == "fail"
    assert document["error"] == run["gates"][0]["message"] + (
        ": the load was rolled back, its rejects are kept in etl_reject."
    )


def test_a_summary_into_a_missing_folder_is_refused_before_anything_starts(
    cli_env, tmp_path, monkeypatch, capsys
):
    def no_spark(*args, **kwargs):
        raise AssertionError("Spark started")

    monkeypatch.setattr(cli, "spark_session", no_spark)
    target = tmp_path / "absent" / "summary.json"

    code = cli.main(
        "all",
        ["--input-dir", str(tmp_path), "--config", str(cli_env), "--summary-json", str(target)],
    )

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: --summary-json {target}: the folder {tmp_path / 'absent'} does not exist; "
        "create it or name another file (or - for stdout)."
    )
