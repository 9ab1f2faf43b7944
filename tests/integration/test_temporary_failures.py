"""Exit 75 (retry later) for what passes by itself, seen from real servers and real Spark
tasks: a PostgreSQL in recovery (a standby, refused before Spark starts), and a connection
lost inside a Spark task, by pgjdbc (a lookup) or by the executors' psycopg2 (the COPY stage
writer); in each case nothing is committed."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from spark_etl.cli import main as cli
from spark_etl.config import Connection
from spark_etl.io import writers
from spark_etl.local.datagen import DataSpec, generate
from spark_etl.local.postgres import LocalPostgres
from spark_etl.runs import pipeline
from tests.helpers import query

pytestmark = pytest.mark.integration
LISTEN = "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories=''"
REPLICA = "-c wal_level=replica"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_in_recovery_is_exit_75_before_spark_starts(
    postgres_server, cli_env, tmp_path, monkeypatch, capsys
):
    if postgres_server is None:
        pytest.skip("needs the embedded test server's binaries (PGHOST unset)")
    base = Path(tempfile.mkdtemp(prefix="spark-etl-standby-"))
    base.chmod(0o755)
    standby = LocalPostgres(base / "pg", _closed_port())
    try:
        standby.start()  # a primary first, which creates its database, then stopped
        standby.stop()
        signal = standby.data_dir / "standby.signal"  # a standby with no primary: in
        signal.touch()  # recovery for good, read-only (a hot standby needs WAL for replicas)
        standby._hand_over(signal)
        for options in (REPLICA, f"{REPLICA} -c hot_standby=on"):
            if options == REPLICA:
                signal.rename(signal.with_suffix(".off"))  # one start as a primary at replica
            else:  # level, so that the standby's checkpoint record allows a hot standby
                signal.with_suffix(".off").rename(signal)
            started = standby._run(
                "pg_ctl", "start", "-w", "-D", str(standby.data_dir),
                "-l", str(standby.base_dir / "standby.log"), "-o", f"{LISTEN.format(standby.port)} {options}",
            )  # fmt: skip
            assert started.returncode == 0, (standby.base_dir / "standby.log").read_text()
            if options == REPLICA:
                standby._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(standby.data_dir))
        monkeypatch.delenv("PGPASSWORD", raising=False)  # the test server's
        for name, value in standby.environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(cli, "spark_session", None)  # Spark must not start
        (tmp_path / "in").mkdir()

        code = cli.main("customer", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)])

        assert code == 75
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"error: PostgreSQL at 127.0.0.1:{standby.port} is in recovery (a standby, or a "
            "failover under way) and takes no writes; run again later, or point PGHOST at the "
            "primary. (temporary: exit 75, retry later)"
        )
    finally:
        standby.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("where", ["lookup", "stage"])
def test_a_connection_lost_in_a_spark_task_is_exit_75_and_nothing_is_committed(
    where, shared, cli_env, tmp_path, monkeypatch, capsys, db_settings, connection
):
    generate(tmp_path / "in", DataSpec(60, 10, 5, seed=3, broken_fraction=0.0))
    assert cli.main("all", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)]) == 0
    before = query(connection, db_settings, "SELECT count(*) FROM cart")
    gone = _closed_port()  # the server as the executors see it: gone
    if where == "lookup":  # pgjdbc, reading the known keys in a Spark task
        monkeypatch.setattr(
            Connection,
            "jdbc_url",
            property(lambda self: f"jdbc:postgresql://{self.host}:{gone}/{self.database}"),
        )
        sign = "PSQLException: Connection to"
    else:  # psycopg2 on the executors, COPYing the staged rows (the function shipped to them)
        copy_partition = writers.copy_partition
        monkeypatch.setattr(
            writers,
            "copy_partition",
            lambda conn, *args: copy_partition(dataclasses.replace(conn, port=gone), *args),
        )
        sign = "DatabaseUnavailableError"
    assert pipeline.writers is writers  # what the load calls

    code = cli.main("cart", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)])

    assert code == 75
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith(
            f"error: cart: a Spark task lost its connection to PostgreSQL ({sign}); "
            "nothing was committed (temporary: exit 75, retry later; the trace is in "
        )
    )
    assert query(connection, db_settings, "SELECT count(*) FROM cart") == before
    assert query(
        connection,
        db_settings,
        "SELECT status FROM etl_run WHERE job = 'cart_data_transform' ORDER BY started_at",
    ) == [("succeeded",), ("failed",)]
