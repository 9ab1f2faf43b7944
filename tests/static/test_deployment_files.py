"""Docker and script files, checked statically (CI has no Docker engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

SHELL_SCRIPTS = sorted([*REPO.glob("*.sh"), *REPO.glob("scripts/*.sh"), REPO / ".ci" / "run"])
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


def test_dockerfile_passes_hadolint():
    result = run(tool("hadolint"), "docker/Dockerfile")

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: str(path.relative_to(REPO)))
def test_shell_script_passes_shellcheck(script):
    result = run(tool("shellcheck"), "--external-sources", str(script))

    assert result.returncode == 0, result.stdout + result.stderr


def images() -> list[str]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    from_compose = [
        service["image"] for service in compose["services"].values() if "image" in service
    ]
    dockerfile = (REPO / "docker" / "Dockerfile").read_text(encoding="utf-8")
    from_dockerfile = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    return from_compose + from_dockerfile


def test_every_image_is_pinned_to_a_version_tag():
    found = images()

    assert "apache/spark:3.5.8-scala2.12-java17-python3-ubuntu" in found
    assert "postgres:15.10-bookworm" in found
    for image in found:
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), image


def test_services_publish_ports_on_loopback_only_and_wait_for_healthy_dependencies():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]

    assert set(services) == {"postgres", "spark-master", "spark-worker"}
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

    assert used == documented
    assert ".env" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()


def jobs_of(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'^\s*(?:set\s+")?JOBS="?=?([a-z_ ]+)"', text, flags=re.MULTILINE)
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
        assert jobs_of(shell) == jobs_of(batch)
        assert set(jobs_of(shell)) == {path.stem for path in (REPO / "jobs").glob("*.py")} | {
            "test"
        }
