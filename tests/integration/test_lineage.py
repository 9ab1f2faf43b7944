"""OpenLineage events of real loads, received by an HTTP receiver on 127.0.0.1 started here:
START then COMPLETE (or FAIL) per job, with the files read and their columns, the model
tables written with the rows loaded, the rows set aside per reason, the gates' verdicts, and
the run id of etl_run; configured the client's standard ways, off when unconfigured; a
receiver down is one warning and the load's result is unchanged."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from spark_etl.cli import main as cli
from spark_etl.local.datagen import DataSpec, generate
from spark_etl.monitoring.lineage import Lineage
from tests.helpers import query

pytestmark = pytest.mark.integration
CART_SOURCE = ["id", "product_id", "customer_id", "quantity", "created_at", "delete_at"]


class Receiver:
    """Keeps every JSON body POSTed to /api/v1/lineage."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/api/v1/lineage":
                    received.append(json.loads(body))
                self.send_response(201 if self.path == "/api/v1/lineage" else 404)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_each_load_sends_start_and_complete_with_its_datasets_and_figures(
    shared, cli_env, tmp_path, receiver, monkeypatch, db_settings, connection
):
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "nightly")
    generate(tmp_path / "in", DataSpec(300, 20, 10, seed=8, broken_fraction=0.1))

    assert cli.main("all", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)]) == 0

    runs = query(
        connection,
        db_settings,
        "SELECT job, run_id::text, rows_read, rows_loaded, rows_rejected FROM etl_run "
        "ORDER BY started_at",
    )
    assert [(e["eventType"], e["job"]["name"], e["run"]["runId"]) for e in receiver.events] == [
        (state, job, run_id) for job, run_id, *_ in runs for state in ("START", "COMPLETE")
    ]
    assert {e["job"]["namespace"] for e in receiver.events} == {"nightly"}
    cart_job, cart_run, read, loaded, rejected = runs[-1]
    assert cart_job == "cart_data_transform"
    start, complete = receiver.events[-2:]
    schema = db_settings.database.db_schema
    database = connection.database
    assert start["inputs"] == []
    assert [o["name"] for o in start["outputs"]] == [
        f"{database}.{schema}.cart",
        f"{database}.{schema}.etl_reject",
    ]
    assert {o["namespace"] for o in complete["outputs"]} == {
        f"postgres://{connection.host}:{connection.port}"
    }

    (source,) = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(tmp_path / "in" / "carts.csv"))
    assert [(f["name"], f["type"]) for f in source["facets"]["schema"]["fields"]] == [
        (name, "string") for name in CART_SOURCE
    ]
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == read
    cart, rejects = complete["outputs"]
    assert (rejects["name"], rejects["outputFacets"]) == (f"{database}.{schema}.etl_reject", {})
    assert cart["outputFacets"]["outputStatistics"]["rowCount"] == loaded
    assert {f["name"]: f["type"] for f in cart["facets"]["schema"]["fields"]}["unit_price"] == (
        "numeric(12,2)"
    )
    facet = complete["run"]["facets"]["spark_etl_load"]
    assert (facet["rowsRead"], facet["rowsLoaded"], facet["rowsSetAside"]) == (
        read,
        loaded,
        rejected,
    )
    assert rejected > 0
    per_reason = query(
        connection,
        db_settings,
        "SELECT reason, count(*) FROM etl_reject, unnest(reasons) AS reason WHERE run_id = %s "
        "AND reason <> 'duplicate' GROUP BY reason",  # duplicates are rowsDuplicate
        cart_run,
    )
    assert facet["setAsideByReason"] == dict(per_reason)
    assert complete["producer"].startswith("https://pypi.org/project/spark-etl/")


def test_a_failed_gate_sends_fail_with_the_gates_verdict(
    shared, cli_env, tmp_path, receiver, monkeypatch
):
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    generate(tmp_path / "in", DataSpec(200, 20, 10, seed=5, broken_fraction=0.3))
    gated = cli_env.with_name("gated.yaml")
    gated.write_text(
        cli_env.read_text(encoding="utf-8")
        + "quality:\n  customer: {fail_set_aside_share: 0.05}\n",
        encoding="utf-8",
    )

    code = cli.main("customer", ["--input-dir", str(tmp_path / "in"), "--config", str(gated)])

    assert code == 4
    assert [e["eventType"] for e in receiver.events] == ["START", "FAIL"]
    fail = receiver.events[1]
    assert fail["run"]["facets"]["errorMessage"]["message"] == (
        "customer: 10% of rows set aside, above quality.customer.fail_set_aside_share 5%: the "
        "load was rolled back, its rejects are kept in etl_reject."
    )
    assert fail["run"]["facets"]["spark_etl_load"]["quality"] == "fail"
    (source,) = fail["inputs"]
    (assertion,) = source["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["assertion"], assertion["success"]) == ("set_aside_share", False)
    assert "outputStatistics" not in fail["outputs"][0]["outputFacets"]  # nothing committed


def test_a_receiver_down_is_one_warning_and_the_load_succeeds(
    shared, cli_env, tmp_path, monkeypatch, capsys
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0}')
    generate(tmp_path / "in", DataSpec(50, 10, 5, seed=6, broken_fraction=0.0))

    code = cli.main("all", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)])

    assert code == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "lineage:" in line]
    assert len(warnings) == 1, warnings
    assert "lineage: could not send the START event of customer_data_transform (" in warnings[0]


def test_configured_the_clients_ways_and_off_otherwise(tmp_path, monkeypatch):
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert not Lineage.from_environment().enabled

    (tmp_path / "openlineage.yml").write_text(
        "transport:\n  type: http\n  url: http://127.0.0.1:5000\n", encoding="utf-8"
    )
    assert Lineage.from_environment().enabled  # openlineage.yml in the current folder

    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not Lineage.from_environment().enabled


def test_a_load_with_a_lake_names_its_iceberg_tables_by_location(
    shared, cli_env, tmp_path, receiver, monkeypatch
):
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    config = Path(cli_env)
    config.write_text(
        config.read_text(encoding="utf-8") + f"lake:\n  warehouse: {tmp_path / 'lake'}\n",
        encoding="utf-8",
    )
    generate(tmp_path / "in", DataSpec(100, 10, 5, seed=3))

    argv = ["--input-dir", str(tmp_path / "in"), "--config", str(config)]
    assert cli.main("product_data_transform", argv) == 0

    _start, complete = receiver.events
    lake = tmp_path / "lake" / "spark_etl"
    assert [(o["namespace"], o["name"]) for o in complete["outputs"]][-2:] == [
        ("file", str(lake / "product")),
        ("file", str(lake / "product_variation")),
    ]
    assert {f["name"]: f["type"] for f in complete["outputs"][-1]["facets"]["schema"]["fields"]}[
        "price"
    ] == "numeric(12,2)"
    # the locations the lake's tables have
    assert sorted(p.name for p in lake.iterdir()) == ["product", "product_variation"]
