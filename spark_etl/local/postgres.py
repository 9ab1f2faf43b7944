"""The embedded PostgreSQL of ``--local`` runs and of the test suite.

A private cluster in a folder of its own: listening on 127.0.0.1 only (no Unix socket),
password authentication with a generated password kept in a 0600 pgpass file, run as a
non-root user (``postgres`` when invoked as root, since the server refuses to run as root).

    python -m spark_etl.local.postgres start|stop|status --dir .local/postgres --port 54329
"""

from __future__ import annotations

import argparse
import glob
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

DEFAULT_PORT = 54329
USER = "etl"
DATABASE = "etl"
HOST = "127.0.0.1"
SERVICE_USER = "postgres"
# Sized for bulk loads on a developer machine (PostgreSQL's defaults target a tiny one): room
# for index builds and sorts, and fewer checkpoints while millions of rows go in. It has no
# standby and no WAL archive, so WAL holds only what crash recovery needs (wal_level minimal):
# rows written into tables created or truncated in the same transaction (a load's new months,
# a plain REFRESH of a materialized view, index builds) are synced at commit, not logged.
TUNING = (
    "-c shared_buffers=1GB -c work_mem=64MB -c maintenance_work_mem=512MB "
    "-c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_level=minimal -c max_wal_senders=0"
)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0  # no geteuid on Windows


def _write_private(path: Path, text: str) -> None:
    """Write a secret into a file that is 0600 from the moment it exists (a file written first
    and chmod-ed after is readable by others in between)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


class LocalPostgresError(RuntimeError):
    """The embedded server could not be set up; the message says what to do."""


def find_bin_dir() -> Path:
    """The newest PostgreSQL server binaries: $PG_BIN_DIR, Debian's layout, or the PATH."""
    if os.environ.get("PG_BIN_DIR"):
        bin_dir = Path(os.environ["PG_BIN_DIR"])
        if not (bin_dir / "initdb").exists() and not (bin_dir / "initdb.exe").exists():
            raise LocalPostgresError(
                f"PG_BIN_DIR={bin_dir} holds no initdb; point it at the bin folder."
            )
        return bin_dir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise LocalPostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install the 'postgresql' "
        "package or set PG_BIN_DIR."
    )


@dataclass(frozen=True)
class LocalPostgres:
    """One private cluster under ``base_dir``: ``data/``, ``server.log`` and ``pgpass``."""

    base_dir: Path
    port: int = DEFAULT_PORT

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def pgpass(self) -> Path:
        return self.base_dir / "pgpass"

    @property
    def environment(self) -> dict[str, str]:
        """The libpq variables a client needs to reach this server (the password via pgpass)."""
        return {
            "PGHOST": HOST,
            "PGPORT": str(self.port),
            "PGUSER": USER,
            "PGDATABASE": DATABASE,
            "PGPASSFILE": str(self.pgpass.resolve()),
        }

    def password(self) -> str:
        return self.pgpass.read_text(encoding="utf-8").strip().rsplit(":", 1)[1]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(find_bin_dir() / args[0]), *args[1:]]
        if _is_root():  # the server refuses to run as root
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def _hand_over(self, path: Path) -> None:
        if _is_root():
            import pwd  # POSIX only

            account = pwd.getpwnam(SERVICE_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def initialize(self) -> None:
        """Create the cluster once, with a fresh password; later calls do nothing."""
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.base_dir)
        password = secrets.token_urlsafe(24)
        password_file = self.base_dir / "initdb-password"
        _write_private(password_file, password)
        self._hand_over(password_file)
        try:
            result = self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                USER,
                "--pwfile",
                str(password_file),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LocalPostgresError(
                f"initdb failed: {result.stderr.strip() or result.stdout.strip()}"
            )
        # host:port:database:user:password, read by libpq and by spark_etl.config
        _write_private(self.pgpass, f"{HOST}:{self.port}:*:{USER}:{password}\n")

    def is_running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data_dir)).returncode == 0

    def start(self) -> None:
        """Initialize if needed, start if stopped, and make sure the ``etl`` database exists."""
        self.initialize()
        if not self.is_running():
            options = (
                f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories='' "
                f"{TUNING}"
            )
            result = self._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.base_dir / "server.log"),
                "-o",
                options,
            )
            if result.returncode != 0:
                log_tail = self._log_tail()
                raise LocalPostgresError(
                    f"PostgreSQL did not start on port {self.port}: {log_tail}"
                )
        self._create_database()

    def _log_tail(self) -> str:
        log_file = self.base_dir / "server.log"
        lines = (
            log_file.read_text(encoding="utf-8", errors="replace").splitlines()
            if log_file.exists()
            else []
        )
        return " | ".join(lines[-3:]) or "no server log"

    def _create_database(self) -> None:
        conn = psycopg2.connect(
            host=HOST, port=self.port, user=USER, password=self.password(), dbname="postgres"
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        finally:
            conn.close()

    def stop(self) -> None:
        if (self.data_dir / "PG_VERSION").is_file() and self.is_running():
            self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_etl.local.postgres")
    parser.add_argument("action", choices=("start", "stop", "status", "env"))
    parser.add_argument("--dir", type=Path, default=Path(".local/postgres"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    server = LocalPostgres(args.dir, args.port)
    try:
        if args.action == "start":
            server.start()
        elif args.action == "stop":
            server.stop()
        elif args.action == "status":
            running = server.is_running() if (server.data_dir / "PG_VERSION").is_file() else False
            print(f"PostgreSQL on {HOST}:{args.port}: {'running' if running else 'stopped'}")
            return 0 if running else 3
        else:  # variables for a shell to export; the password stays in the pgpass file
            for key, value in server.environment.items():
                print(f"export {key}='{value}'")
    except LocalPostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
