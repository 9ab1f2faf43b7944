"""libpq's TLS variables (PGSSLMODE, PGSSLROOTCERT) reach both drivers: psycopg2 on the driver
and the executors, and Spark's JDBC reads. The test server gets a self-signed certificate for
127.0.0.1 (turned on with a reload, off again after), and each driver's own connection is
asked whether it is encrypted; a root certificate that did not sign it is refused by both."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from spark_etl.config import Connection, connection_from_env
from spark_etl.db import postgres
from spark_etl.errors import ConfigError, DatabaseError
from spark_etl.io import readers
from tests.helpers import pg_environment

pytestmark = pytest.mark.integration
ENCRYPTED = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture
def tls_server(postgres_server, connection: Connection) -> Iterator[Path]:
    """The test server with TLS on; yields the certificate that signs it."""
    if postgres_server is None or shutil.which("openssl") is None:
        pytest.skip("needs the embedded test server (PGHOST unset) and openssl")
    folder = postgres_server.base_dir / "tls"
    folder.mkdir(exist_ok=True)
    key, cert = _certificate(folder, "server")
    key.chmod(0o600)
    for path in (folder, key, cert):
        postgres_server._hand_over(path)  # the server's own account reads them
    conn = postgres.connect(connection, "public", 5)
    conn.autocommit = True
    settings = {"ssl": "on", "ssl_cert_file": str(cert), "ssl_key_file": str(key)}
    try:
        with conn.cursor() as cur:
            for name, value in settings.items():
                cur.execute(f"ALTER SYSTEM SET {name} = %s", (value,))
            cur.execute("SELECT pg_reload_conf()")
        yield cert
    finally:
        with conn.cursor() as cur:
            for name in settings:
                cur.execute(f"ALTER SYSTEM RESET {name}")
            cur.execute("SELECT pg_reload_conf()")
        conn.close()


def _with(connection: Connection, **variables: str) -> Connection:
    env = {**pg_environment(connection), **variables}
    return dataclasses.replace(connection_from_env(env), password=connection.password)


def test_pgsslmode_and_root_certificate_reach_psycopg2_and_jdbc(
    spark, settings, connection, tls_server, tmp_path
):
    verified = _with(connection, PGSSLMODE="verify-full", PGSSLROOTCERT=str(tls_server))
    assert dict(verified.ssl) == {"sslmode": "verify-full", "sslrootcert": str(tls_server)}

    conn = postgres.connect(verified, "public", 5)
    with conn.cursor() as cur:
        cur.execute(ENCRYPTED)
        assert cur.fetchone() == {"ssl": True}
    conn.close()
    frame = spark.read.jdbc(
        verified.jdbc_url,
        f"({ENCRYPTED}) AS tls",
        properties=verified.jdbc_properties(settings.database.connect_timeout_seconds),
    )
    assert [row.ssl for row in frame.collect()] == [True]

    plain = _with(connection, PGSSLMODE="disable")
    conn = postgres.connect(plain, "public", 5)
    with conn.cursor() as cur:
        cur.execute(ENCRYPTED)
        assert cur.fetchone() == {"ssl": False}
    conn.close()

    _, stranger = _certificate(tmp_path, "stranger")
    refused = _with(connection, PGSSLMODE="verify-full", PGSSLROOTCERT=str(stranger))
    with pytest.raises(DatabaseError, match="certificate verify failed"):  # exit 2
        postgres.connect(refused, "public", 5)
    with pytest.raises(Exception, match=r"(?i)certif|PKIX|SSL"):
        readers.read_lookup(spark, refused, settings.database, "pg_database", ("oid",)).count()


def test_an_unknown_sslmode_is_one_line():
    with pytest.raises(ConfigError) as error:
        connection_from_env({"PGSSLMODE": "required", "PGUSER": "etl"})

    assert str(error.value) == (
        "PGSSLMODE must be one of disable, allow, prefer, require, verify-ca, verify-full, "
        "not 'required'."
    )


def test_pgservice_is_resolved_as_libpq_resolves_it(connection, tmp_path, monkeypatch):
    services = tmp_path / "pg_service.conf"
    services.write_text(
        "# the nightly load's server\n[nightly]\n"
        f"host={connection.host}\nport={connection.port}\ndbname={connection.database}\n"
        f"user={connection.user}\nsslmode=disable\n\n[other]\nhost=elsewhere\n",
        encoding="utf-8",
    )
    env = {
        "PGSERVICE": "nightly",
        "PGSERVICEFILE": str(services),
        "PGHOST": "no-such-host.invalid",  # the service's settings win over the variables
        "PGPORT": "1",
        "PGPASSWORD": connection.password or "",
    }
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    ours = connection_from_env(env)
    libpq = psycopg2.connect(service="nightly")  # libpq reads the same environment itself
    try:
        assert (ours.host, ours.port, ours.database, ours.user) == (
            libpq.info.host,
            libpq.info.port,
            libpq.info.dbname,
            libpq.info.user,
        )
        assert dict(ours.ssl) == {"sslmode": "disable"}
        assert libpq.info.ssl_in_use is False
    finally:
        libpq.close()
    conn = postgres.connect(ours, "public", 5)  # and JDBC's properties carry the same values
    conn.close()
    assert (
        ours.jdbc_url
        == f"jdbc:postgresql://{connection.host}:{connection.port}/{connection.database}"
    )

    with pytest.raises(ConfigError) as error:
        connection_from_env({**env, "PGSERVICE": "missing"})
    assert str(error.value) == (
        f"PGSERVICE=missing: no service of that name in {services} or "
        "/etc/postgresql-common/pg_service.conf; check PGSERVICE and PGSERVICEFILE."
    )
