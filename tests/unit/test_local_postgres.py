"""The embedded PostgreSQL's command line (starting it is exercised by every integration test)."""

from __future__ import annotations

from spark_etl import local_postgres


def test_status_of_a_folder_without_a_cluster_is_stopped(tmp_path, capsys):
    code = local_postgres.main(["status", "--dir", str(tmp_path), "--port", "54999"])

    assert code == 3
    assert capsys.readouterr().out == "PostgreSQL on 127.0.0.1:54999: stopped\n"


def test_env_exports_the_libpq_variables_but_no_password(tmp_path, capsys):
    assert local_postgres.main(["env", "--dir", str(tmp_path), "--port", "54999"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "export PGHOST='127.0.0.1'",
        "export PGPORT='54999'",
        "export PGUSER='etl'",
        "export PGDATABASE='etl'",
        f"export PGPASSFILE='{tmp_path.resolve()}/pgpass'",
    ]


def test_missing_server_binaries_are_explained(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path / "no-bin"))

    assert local_postgres.main(["start", "--dir", str(tmp_path / "pg"), "--port", "54999"]) == 2

    assert capsys.readouterr().err == (
        f"error: PG_BIN_DIR={tmp_path}/no-bin holds no initdb; point it at the bin folder.\n"
    )
