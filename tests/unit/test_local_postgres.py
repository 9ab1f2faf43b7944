"""The embedded PostgreSQL's command line (starting it is exercised by every integration test)."""

from __future__ import annotations

import os

from spark_etl.local import postgres as local_postgres


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


def test_a_secret_file_is_private_from_the_moment_it_exists(tmp_path, monkeypatch):
    target = tmp_path / "pgpass"
    target.write_text("old, readable by all", encoding="utf-8")
    target.chmod(0o644)
    modes_before_writing = []
    real_fdopen = os.fdopen

    def spying_fdopen(descriptor, *args, **kwargs):
        modes_before_writing.append(os.fstat(descriptor).st_mode & 0o777)
        return real_fdopen(descriptor, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", spying_fdopen)
    previous = os.umask(0)  # even with a umask that lets everything through
    try:
        local_postgres._write_private(target, "127.0.0.1:1:*:etl:secret\n")
    finally:
        os.umask(previous)

    # the secret went into a file that was 0600 before a byte was written
    assert modes_before_writing == [0o600]
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text(encoding="utf-8") == "127.0.0.1:1:*:etl:secret\n"
