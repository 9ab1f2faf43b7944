"""Docker and script files, checked statically. (scripts/docker-ci.sh runs the stack for real;
tests/scripts runs the scripts with a stand-in docker.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spark_etl.definitions import load_entities
from tests.helpers import REPO

SHELL_SCRIPTS = sorted(
    [
        *REPO.glob("*.sh"),
        *REPO.glob("scripts/*.sh"),
        *REPO.glob("docker/*/*.sh"),
        *REPO.glob("tests/scripts/*.sh"),
        *REPO.glob("examples/*/*.sh"),
        REPO / ".ci" / "run",
    ]
)
DOCKERFILES = sorted(REPO.glob("docker/*/Dockerfile"))
# Set by the scripts (the host user's ids), not by .env.
SCRIPT_VARIABLES = {"ETL_UID", "ETL_GID"}
TWINS = ("submit", "start", "stop", "test")


def tool(name: str) -> str:
    """A lint tool installed by the project's own Python packages."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[lint]')")
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)


def test_compose_file_follows_the_compose_specification():
    result = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_dockerfile_passes_hadolint(dockerfile):
    result = run(tool("hadolint"), str(dockerfile))

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: str(path.relative_to(REPO)))
def test_shell_script_passes_shellcheck(script):
    result = run(tool("shellcheck"), "--external-sources", str(script))

    assert result.returncode == 0, result.stdout + result.stderr


def compose_file() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_images_are_built_here_from_one_pinned_debian_base():
    services = compose_file()["services"]
    base = re.search(
        r"^BASE_IMAGE=(\S+)$", (REPO / ".env.example").read_text(encoding="utf-8"), re.M
    )

    assert base and re.fullmatch(r"debian:12\.\d+-slim", base.group(1))
    assert {service["image"] for service in services.values()} == {
        "spark-etl:0.1.0",
        "spark-etl-postgres:0.1.0",
    }
    for name in ("postgres", "spark-master"):
        build = services[name]["build"]
        assert build["args"]["BASE_IMAGE"] == f"${{BASE_IMAGE:-{base.group(1)}}}", name
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text(encoding="utf-8")
        assert f"ARG BASE_IMAGE={base.group(1)}" in text, dockerfile
        assert re.findall(r"^FROM\s+(\S+)", text, flags=re.M) == ["${BASE_IMAGE}"], dockerfile
        assert "# syntax=" not in text  # a frontend image would have to be pulled


def test_spark_image_installs_the_pins_of_pyproject_and_debians_jdbc_driver():
    dockerfile = (REPO / "docker" / "spark" / "Dockerfile").read_text(encoding="utf-8")

    # the same pyspark as local runs: the spark extra of pyproject.toml, no version of its own
    assert "requirements.py /tmp/build/pyproject.toml spark test" in dockerfile
    assert "pyspark==" not in dockerfile and "apache/spark" not in dockerfile
    assert "libpostgresql-jdbc-java" in dockerfile
    # dependencies are installed before the code is copied, so a code change reuses them
    assert dockerfile.index("-r /tmp/build/requirements.txt") < dockerfile.index("COPY . .")


def test_services_publish_ports_on_loopback_only_and_wait_for_healthy_dependencies():
    services = compose_file()["services"]

    assert set(services) == {"postgres", "spark-master", "spark-worker", "spark-history"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}, name
    assert "ports" not in services["spark-worker"]  # so --scale spark-worker=N never clashes
    assert "container_name" not in services["spark-worker"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )


def test_env_example_names_every_variable_the_compose_file_uses():
    used = set(re.findall(r"\$\{(\w+)", (REPO / "docker-compose.yml").read_text(encoding="utf-8")))
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    }

    assert used - SCRIPT_VARIABLES == documented
    assert all(
        name in (REPO / "scripts" / "docker_env.sh").read_text() for name in SCRIPT_VARIABLES
    )
    assert ".env" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()


def tools_of(path: Path) -> list[str]:
    """The jobs a submit script knows besides the load jobs (those come from the entities)."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r'^\s*(?:set\s+")?TOOLS="?=?([a-z_ ]+)"', text, flags=re.MULTILINE)
    assert match, path
    return match.group(1).split()


def options_of(path: Path) -> set[str]:
    return set(re.findall(r"--(?:local|purge|workers|help)\b", path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", TWINS)
def test_sh_and_bat_twins_offer_the_same_commands(name):
    shell, batch = REPO / f"{name}.sh", REPO / f"{name}.bat"

    assert batch.read_bytes().count(b"\r\n") == batch.read_bytes().count(b"\n")  # CRLF for cmd.exe
    assert options_of(shell) == options_of(batch)
    if name == "submit":
        assert tools_of(shell) == tools_of(batch)
        # every tool and built-in load job keeps its entry point for spark-submit jobs/<job>.py
        built_in = [*load_entities().jobs]
        assert {path.stem for path in (REPO / "jobs").glob("*.py")} == {
            *tools_of(shell),
            *built_in,
            "load",
            "main",  # the spark-etl command: any job by its subcommand
        } - {"test"}


def test_transformers_stay_pure_of_io_modules():
    """Transforms take DataFrames and values; reading and writing stay in readers, writers and
    database (STYLE: I/O only at the edges)."""
    io_modules = (
        "spark_etl.io.readers",
        "spark_etl.io.writers",
        "spark_etl.db.postgres",
        "psycopg2",
    )
    for module in (REPO / "spark_etl" / "transforms").glob("*.py"):
        text = module.read_text(encoding="utf-8")
        for name in io_modules:
            assert f"from {name} " not in text and f"import {name}" not in text, (module, name)
