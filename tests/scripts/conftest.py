"""Shared by the script tests: a copy of the scripts to run, free and taken ports."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPTS = ("start", "stop", "submit", "test")
# The published ports of .env; each test gets free ones, whatever runs on this machine.
PORT_VARIABLES = (
    "POSTGRES_PORT",
    "SPARK_MASTER_UI_PORT",
    "SPARK_APP_UI_PORT",
    "SPARK_HISTORY_PORT",
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the scripts and stack files, so that .env and ./data are made in tmp_path."""
    root = tmp_path / "project"
    root.mkdir()
    for name in [f"{script}.{kind}" for script in SCRIPTS for kind in ("sh", "bat")]:
        shutil.copy2(REPO / name, root / name)
    for name in (".env.example", "docker-compose.yml"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "scripts", root / "scripts")
    # the submit scripts list the load jobs from the entity definitions
    shutil.copytree(
        REPO / "spark_etl" / "definitions" / "entities",
        root / "spark_etl" / "definitions" / "entities",
    )
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports() -> dict[str, str]:
    return {variable: str(free_port()) for variable in PORT_VARIABLES}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on, on 127.0.0.1."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def env_file(project: Path) -> None:
    """.env as ./start.sh would create it, with a known password."""
    text = (project / ".env.example").read_text(encoding="utf-8")
    (project / ".env").write_text(text.replace("change-me", "secret"), encoding="utf-8")
