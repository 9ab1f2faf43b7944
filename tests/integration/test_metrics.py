"""Metrics for Prometheus: a real Pushgateway (Debian's prometheus-pushgateway, started on
127.0.0.1 here) scraped after real loads, and the node-exporter textfile beside it; a failed
run updates only its exit code and time, never the last success's figures; an unreachable
gateway is one warning; a malformed setting is exit 2 before Spark starts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spark_etl.cli import main as cli
from spark_etl.local.datagen import DataSpec, generate

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory) -> Iterator[str]:
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.skip("prometheus-pushgateway is not installed (./test.sh installs Debian's package)")
    url = f"http://127.0.0.1:{_free_port()}"
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [binary, f"--web.listen-address={url.removeprefix('http://')}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def scrape(text: str) -> dict[tuple[str, str, str], float]:
    """Our samples: (metric, job, entity) -> value."""
    return {
        (sample.name, sample.labels.get("job", ""), sample.labels.get("entity", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("spark_etl_")
    }


def scraped(url: str) -> dict[tuple[str, str, str], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return scrape(response.read().decode("utf-8"))


def with_metrics(cli_env, **metrics: object):
    config = cli_env.with_name("metrics.yaml")
    lines = [f"  {key}: {value}" for key, value in metrics.items()]
    config.write_text(
        cli_env.read_text(encoding="utf-8") + "metrics:\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    return config


CART = ("cart_data_transform", "cart")
CUSTOMER = ("customer_data_transform", "customer")


def test_loads_push_their_figures_and_a_failure_keeps_the_last_success(
    shared, cli_env, tmp_path, pushgateway
):
    generate(tmp_path / "good", DataSpec(200, 20, 10, seed=4, broken_fraction=0.0))
    generate(tmp_path / "broken", DataSpec(200, 20, 10, seed=5, broken_fraction=0.3))
    textfile = tmp_path / "textfile" / "spark_etl.prom"
    textfile.parent.mkdir()
    config = with_metrics(cli_env, textfile=textfile, pushgateway_url=pushgateway)
    before = time.time()

    assert cli.main("all", ["--input-dir", str(tmp_path / "good"), "--config", str(config)]) == 0

    seen = scraped(pushgateway)
    assert {
        name: seen[(f"spark_etl_{name}", *CART)]
        for name in ("rows_read", "rows_loaded", "rows_set_aside", "last_run_exit_code")
    } == {"rows_read": 200, "rows_loaded": 200, "rows_set_aside": 0, "last_run_exit_code": 0}
    assert seen[("spark_etl_rows_read", *CUSTOMER)] == 20
    succeeded_at = seen[("spark_etl_last_success_timestamp_seconds", *CART)]
    assert before - 1 <= succeeded_at <= time.time() + 1
    assert seen[("spark_etl_last_run_timestamp_seconds", *CART)] == succeeded_at
    assert 0 < seen[("spark_etl_last_success_duration_seconds", *CART)] < time.time() - before
    in_file = scrape(textfile.read_text(encoding="utf-8"))
    assert {key: value for key, value in seen.items() if key in in_file} == in_file
    assert len(in_file) == 8 * 3  # eight metrics for each of the three jobs

    # the cart extract with 30% broken lines breaks its gate: exit 4, the load rolled back
    gated = config.with_name("gated.yaml")
    gated.write_text(
        config.read_text(encoding="utf-8") + "quality:\n  cart: {fail_set_aside_share: 0.05}\n",
        encoding="utf-8",
    )
    assert cli.main("cart", ["--input-dir", str(tmp_path / "broken"), "--config", str(gated)]) == 4

    after = scraped(pushgateway)
    assert after[("spark_etl_last_run_exit_code", *CART)] == 4
    assert after[("spark_etl_last_run_timestamp_seconds", *CART)] > succeeded_at
    for name in ("rows_read", "rows_loaded", "rows_set_aside", "last_success_timestamp_seconds"):
        assert after[(f"spark_etl_{name}", *CART)] == seen[(f"spark_etl_{name}", *CART)], name
    assert {k: v for k, v in after.items() if k[1] != CART[0]} == {
        k: v for k, v in seen.items() if k[1] != CART[0]
    }  # the other jobs' groups are untouched
    in_file = scrape(textfile.read_text(encoding="utf-8"))
    assert {key: value for key, value in after.items() if key in in_file} == in_file
    assert len(in_file) == 8 * 3
    assert sorted(p.name for p in textfile.parent.iterdir()) == [
        ".spark_etl.prom.lock",
        "spark_etl.prom",
    ]  # replaced atomically: no temporary file left


def test_the_analytics_job_keeps_its_own_group(shared, cli_env, tmp_path, pushgateway):
    generate(tmp_path / "in", DataSpec(100, 10, 5, seed=3, broken_fraction=0.0))
    config = with_metrics(cli_env, pushgateway_url=pushgateway)
    assert cli.main("all", ["--input-dir", str(tmp_path / "in"), "--config", str(config)]) == 0
    analytics = ("analytics", "all")

    assert (
        cli.main("analytics", ["--config", str(config), "--output-dir", str(tmp_path / "r")]) == 0
    )

    seen = scraped(pushgateway)
    assert {name for name, *labels in seen if tuple(labels) == analytics} == {
        "spark_etl_last_run_exit_code",
        "spark_etl_last_run_timestamp_seconds",
        "spark_etl_last_run_duration_seconds",
        "spark_etl_last_success_timestamp_seconds",
        "spark_etl_last_success_duration_seconds",
    }  # no rows: it loads none
    assert seen[("spark_etl_last_run_exit_code", *analytics)] == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")

    assert cli.main("analytics", ["--config", str(config), "--output-dir", str(blocker / "r")]) == 2

    after = scraped(pushgateway)
    assert after[("spark_etl_last_run_exit_code", *analytics)] == 2
    assert (
        after[("spark_etl_last_success_timestamp_seconds", *analytics)]
        == seen[("spark_etl_last_success_timestamp_seconds", *analytics)]
    )


def test_an_unreachable_gateway_is_one_warning(shared, cli_env, tmp_path, capsys):
    generate(tmp_path / "in", DataSpec(50, 10, 5, seed=6, broken_fraction=0.0))
    closed = f"http://127.0.0.1:{_free_port()}"
    config = with_metrics(cli_env, pushgateway_url=closed, timeout_seconds=2)

    code = cli.main("customer", ["--input-dir", str(tmp_path / "in"), "--config", str(config)])

    assert code == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "metrics:" in line]
    assert len(warnings) == 1
    assert f"metrics: could not push to {closed} (" in warnings[0]
    assert warnings[0].endswith("the load's result is unchanged")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"pushgateway_url": "pushgateway:9091"},
            "'metrics.pushgateway_url': String should match pattern",
        ),
        ({"textfile": "/tmp/spark_etl.txt"}, "'metrics.textfile': String should match pattern"),
        ({"timeout_seconds": 0}, "'metrics.timeout_seconds': Input should be greater than"),
        (
            {"textfile": "/nonexistent/folder/spark_etl.prom"},
            "metrics.textfile /nonexistent/folder/spark_etl.prom: the folder /nonexistent/folder "
            "does not exist; create it (node-exporter's --collector.textfile.directory) or set "
            "another file.",
        ),
    ],
)
def test_a_malformed_metrics_setting_stops_before_spark(
    cli_env, tmp_path, capsys, monkeypatch, setting, message
):
    monkeypatch.setattr(cli, "spark_session", None)  # starting Spark would fail the test
    generate(tmp_path / "in", DataSpec(10, 5, 5, seed=7, broken_fraction=0.0))
    config = with_metrics(cli_env, **setting)

    code = cli.main("cart", ["--input-dir", str(tmp_path / "in"), "--config", str(config)])

    assert code == 2
    assert message in capsys.readouterr().err
