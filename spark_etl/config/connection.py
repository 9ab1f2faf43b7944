"""Where PostgreSQL is: the libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD,
PGSSL*, PGSERVICE and PGPASSFILE) resolved on the driver as libpq resolves it, so that psycopg2,
JDBC and the executors all get explicit values; never a file that could be committed."""

from __future__ import annotations

import configparser
import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from spark_etl.errors import ConfigError

# libpq's TLS variables -> the connection keyword libpq and pgjdbc both call it by
SSL_VARIABLES = {
    "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert",
    "PGSSLCERT": "sslcert",
    "PGSSLKEY": "sslkey",
}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Connection:
    """Where PostgreSQL is, read from the libpq environment variables."""

    host: str
    port: int
    database: str
    user: str
    password: str | None
    # TLS: sslmode, sslrootcert, sslcert, sslkey as PGSSL* set them, given to psycopg2 and to
    # JDBC alike (also on executors, whose environment may not have the variables)
    ssl: tuple[tuple[str, str], ...] = ()

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def jdbc_properties(self, connect_timeout_seconds: int) -> dict[str, str]:
        """Spark's JDBC connection options for this server: the one place they are built."""
        properties = {
            "user": self.user,
            "driver": "org.postgresql.Driver",
            "connectTimeout": str(connect_timeout_seconds),
        }
        if self.password is not None:
            properties["password"] = self.password
        properties.update(self.ssl)
        return properties

    def __repr__(self) -> str:  # the password never reaches a log line
        return (
            f"Connection(host={self.host!r}, port={self.port}, "
            f"database={self.database!r}, user={self.user!r})"
        )


def _pgpass_fields(line: str) -> list[str]:
    """Split a pgpass line on unescaped colons (``\\:`` and ``\\\\`` are escapes)."""
    fields, current, escaped = [], "", False
    for char in line:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current]


def password_from_pgpass(path: Path, host: str, port: int, database: str, user: str) -> str | None:
    """The password libpq would take from a pgpass file for this connection, if any."""
    if not path.is_file():
        return None
    wanted = (host, str(port), database, user)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = _pgpass_fields(line)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], wanted, strict=True)):
            return fields[4]
    return None


# the keywords of a connection service, and the variable each stands in for
SERVICE_KEYWORDS = {
    "host": "PGHOST",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    **{keyword: variable for variable, keyword in SSL_VARIABLES.items()},
}
SYSTEM_SERVICE_DIR = "/etc/postgresql-common"  # Debian's `pg_config --sysconfdir`


def service_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The variables PGSERVICE stands for, looked up as libpq does: its section in the user's
    service file (PGSERVICEFILE, default ~/.pg_service.conf), else in the system's
    (PGSYSCONFDIR/pg_service.conf). Resolved here, on the driver, so that JDBC and the
    executors, which read no service file, get the same values."""
    name = env.get("PGSERVICE")
    if not name:
        return {}
    files = (
        Path(env.get("PGSERVICEFILE") or Path.home() / ".pg_service.conf"),
        Path(env.get("PGSYSCONFDIR") or SYSTEM_SERVICE_DIR) / "pg_service.conf",
    )
    for path in files:
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{path} is not a valid service file ({exc.message}).") from None
        if parser.has_section(name):
            section = parser[name]
            return {SERVICE_KEYWORDS[k]: v for k, v in section.items() if k in SERVICE_KEYWORDS}
    raise ConfigError(
        f"PGSERVICE={name}: no service of that name in {files[0]} or {files[1]}; check "
        "PGSERVICE and PGSERVICEFILE."
    )


def connection_from_env(environ: Mapping[str, str] | None = None) -> Connection:
    """Read the libpq variables, with libpq's own defaults for the ones not set.

    As with libpq, PGSERVICE's settings win over the variables they stand for, and the
    password comes from PGPASSWORD, else from the PGPASSFILE (default ``~/.pgpass``) line
    matching host, port, database and user.
    """
    given = os.environ if environ is None else environ
    env = {**given, **service_settings(given)}
    user = env.get("PGUSER") or getpass.getuser()
    port_text = env.get("PGPORT", "5432")
    if not port_text.isdigit():
        raise ConfigError(f"PGPORT must be a port number, not '{port_text}'.")
    host = env.get("PGHOST", "localhost")
    database = env.get("PGDATABASE") or user
    password = env.get("PGPASSWORD")
    if password is None:
        pgpass = Path(env.get("PGPASSFILE") or Path.home() / ".pgpass")
        password = password_from_pgpass(pgpass, host, int(port_text), database, user)
    mode = env.get("PGSSLMODE")
    if mode and mode not in SSL_MODES:
        raise ConfigError(f"PGSSLMODE must be one of {', '.join(SSL_MODES)}, not '{mode}'.")
    ssl = tuple((key, env[name]) for name, key in SSL_VARIABLES.items() if env.get(name))
    return Connection(host, int(port_text), database, user, password, ssl)
