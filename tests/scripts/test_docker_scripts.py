"""start.sh, stop.sh and submit.sh on the Docker path, run for real with a stand-in docker
command: every mistake a user can make gets one clear line and a non-zero exit, and a job's
exit code is the script's. (scripts/docker-ci.sh runs the same scripts on a real engine.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.scripts.conftest import env_file, free_ports

HERE = Path(__file__).resolve().parent
# What the scripts call besides docker; linked into a PATH of their own so that "docker is not
# installed" can be tested on a machine that has it.
TOOLS = (
    "bash", "env", "sed", "od", "tr", "id", "grep", "cat", "dirname", "tail", "head", "sort",
    "seq", "sleep", "mkdir", "chmod", "cut", "rm", "cp",
)  # fmt: skip


def path_with(tmp_path: Path, docker: bool) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    if docker and not (bin_dir / "docker").exists():
        (bin_dir / "docker").symlink_to(HERE / "stand_in_docker.sh")
    return str(bin_dir)


def run(project: Path, *command: str, docker: bool = True, **fake: str):
    env = {
        "PATH": path_with(project.parent, docker),
        "HOME": str(project.parent),
        "FAKE_DOCKER_LOG": str(project.parent / "docker.log"),
        **free_ports(),  # the environment wins over .env
        **fake,
    }
    return subprocess.run(
        [str(project / command[0]), *command[1:]],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def docker_calls(project: Path) -> list[str]:
    log = project.parent / "docker.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


@pytest.mark.parametrize("script", [("start.sh",), ("stop.sh",), ("submit.sh", "all")])
def test_docker_not_installed_is_one_line(project, script):
    result = run(project, *script, docker=False)

    assert result.returncode == 2
    assert result.stderr == (
        "error: Docker is not installed; install Docker Engine (or Docker Desktop) with the "
        "Compose plugin, or run with --local.\n"
    )


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (
            {"FAKE_DOCKER_INFO": "down"},
            "error: the Docker engine is not running (docker info failed); start it (e.g. sudo systemctl start docker), or run with --local.\n",
        ),
        (
            {"FAKE_DOCKER_INFO": "denied"},
            "error: no permission to use the Docker engine; add your user to the docker group (then log in again), or run with --local.\n",
        ),
        (
            {"FAKE_COMPOSE_VERSION": "none"},
            "error: Docker Compose v2 is missing (docker compose version failed); install the Compose plugin, 2.20.0 or newer (docker-compose 1.x is not supported).\n",
        ),
        (
            {"FAKE_COMPOSE_VERSION": "v2.10.2"},
            "error: Docker Compose 2.10.2 is too old; install 2.20.0 or newer.\n",
        ),
    ],
    ids=["engine-down", "no-permission", "compose-missing", "compose-too-old"],
)
def test_an_unusable_docker_is_named(project, fake, message):
    result = run(project, "start.sh", **fake)

    assert result.returncode == 2
    assert result.stderr == message
    assert not (project / ".env").exists()  # nothing done before the checks pass


def test_a_taken_port_names_the_port_and_its_variable(project, taken_port):
    env_file(project)
    port = taken_port
    result = run(project, "start.sh", SPARK_HISTORY_PORT=str(port))

    assert result.returncode == 2
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is already in use (SPARK_HISTORY_PORT in .env); "
        "stop what uses it, or set SPARK_HISTORY_PORT to a free port in .env.\n"
    )
    assert not any(" up " in call for call in docker_calls(project))


def test_a_port_of_a_running_service_is_not_taken(project, taken_port):
    env_file(project)
    result = run(
        project,
        "start.sh",
        POSTGRES_PORT=str(taken_port),
        FAKE_RUNNING="postgres spark-master spark-worker spark-history",
    )

    assert result.returncode == 0, result.stderr
    assert "The stack is up" in result.stderr


def test_start_creates_env_with_a_random_password_and_the_data_folders(project):
    result = run(project, "start.sh", "--workers", "2", FAKE_WORKERS="2")

    assert result.returncode == 0, result.stderr
    env = (project / ".env").read_text(encoding="utf-8")
    password = next(line for line in env.splitlines() if line.startswith("POSTGRES_PASSWORD="))
    assert len(password.split("=", 1)[1]) == 36 and "change-me" not in password
    assert oct((project / ".env").stat().st_mode)[-3:] == "600"
    for folder in ("data/input", "data/report", "data/archive", "data/logs/spark-events"):
        assert (project / folder).is_dir(), folder
    up = next(call for call in docker_calls(project) if " up " in call)
    assert up.endswith("up --detach --build --wait --scale spark-worker=2")


def test_a_changed_password_says_why_and_how_to_fix_it(project):
    env_file(project)
    result = run(
        project,
        "start.sh",
        FAKE_LOGIN="credentials",
    )

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "error: PostgreSQL refuses the user or password of .env: the database volume was created "
        "with other credentials. Put the old ones back in .env, or set the new password in the "
        "database with: docker compose -p spark-etl exec postgres psql -U etl -d postgres -c "
        "'\\password etl' (or delete the database with ./stop.sh --purge)."
    )


def test_an_unreachable_database_is_named_with_its_error(project):
    env_file(project)
    result = run(
        project, "start.sh", FAKE_LOGIN='unreachable could not translate host name "postgres"'
    )

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        'error: the jobs cannot connect to PostgreSQL: could not translate host name "postgres"'
    )


@pytest.mark.parametrize(
    ("worker", "executor", "message"),
    [
        (
            "2g",
            "3g",
            "error: SPARK_EXECUTOR_MEMORY (3g) is more than SPARK_WORKER_MEMORY (2g): no worker "
            "could start an executor and every job would wait. Lower SPARK_EXECUTOR_MEMORY in "
            ".env, or leave it empty for the worker's whole memory.\n",
        ),
        (
            "4G",
            "4097m",
            "error: SPARK_EXECUTOR_MEMORY (4097m) is more than SPARK_WORKER_MEMORY (4G): no worker "
            "could start an executor and every job would wait. Lower SPARK_EXECUTOR_MEMORY in "
            ".env, or leave it empty for the worker's whole memory.\n",
        ),
        (
            "2g",
            "1024",
            "error: SPARK_EXECUTOR_MEMORY in .env must be a size with its unit, such as 2g or "
            "1536m (found '1024').\n",
        ),
        (
            "two",
            "",
            "error: SPARK_WORKER_MEMORY in .env must be a size with its unit, such as 2g or "
            "1536m (found 'two').\n",
        ),
    ],
    ids=["larger", "larger-by-1m", "bare-number", "not-a-size"],
)
def test_an_executor_larger_than_its_worker_is_refused_before_anything_starts(
    project, worker, executor, message
):
    env_file(project)
    result = run(project, "start.sh", SPARK_WORKER_MEMORY=worker, SPARK_EXECUTOR_MEMORY=executor)

    assert result.returncode == 2
    assert result.stderr == message
    assert not any(" up " in call for call in docker_calls(project))


@pytest.mark.parametrize(
    ("worker", "executor"), [("2g", ""), ("2g", "2048m"), ("4gb", "4g"), ("1t", "512g")]
)
def test_an_executor_that_fits_its_worker_starts(project, worker, executor):
    env_file(project)
    result = run(project, "start.sh", SPARK_WORKER_MEMORY=worker, SPARK_EXECUTOR_MEMORY=executor)

    assert result.returncode == 0, result.stderr
    assert "The stack is up" in result.stderr


@pytest.mark.parametrize("workers", ["0", "two", "-1"])
def test_workers_must_be_a_positive_number(project, workers):
    result = run(project, "start.sh", "--workers", workers)

    assert result.returncode == 2
    assert result.stderr == "error: --workers needs a number of workers (1 or more).\n"
    assert docker_calls(project) == []


def test_submit_before_start_says_to_start_first(project):
    env_file(project)
    result = run(project, "submit.sh", "all", FAKE_RUNNING="")

    assert result.returncode == 2
    assert result.stderr == (
        "error: the Docker stack is not up; run ./start.sh first (or use --local).\n"
    )


@pytest.mark.parametrize("script", [("stop.sh",), ("submit.sh", "all")])
def test_a_missing_env_file_is_named(project, script):
    result = run(project, *script, FAKE_RUNNING="spark-master")

    assert result.returncode == 2
    assert result.stderr == (
        f"error: {project}/.env is missing; it holds the stack's settings (./start.sh creates "
        "it). Restore it, or remove the stack with: docker compose -p spark-etl down\n"
    )


def test_a_job_runs_through_the_image_entry_point_and_its_exit_code_is_the_scripts(project):
    env_file(project)
    result = run(
        project,
        "submit.sh",
        "cart_data_transform",
        "--input-dir",
        "/data/input/2024-11",
        FAKE_RUNNING="postgres spark-master",
        FAKE_EXEC_STATUS="3",
    )

    assert result.returncode == 3
    submit = docker_calls(project)[-1]
    assert " exec -T spark-master /opt/spark-etl/docker/spark/entrypoint.sh spark-submit " in submit
    assert submit.endswith("jobs/main.py load cart_data_transform --input-dir /data/input/2024-11")


def test_a_json_summary_on_stdout_comes_alone_after_spark_submit(project):
    env_file(project)
    result = run(
        project,
        "submit.sh",
        "cart_data_transform",
        "--input-dir",
        "/data/input",
        "--summary-json",
        "-",
        FAKE_RUNNING="postgres spark-master",
        FAKE_EXEC_OUTPUT="a log line of spark-submit",
        FAKE_SUMMARY='{"schema": "spark-etl/summary/1"}',
    )

    assert result.returncode == 0, result.stderr
    # spark-submit's output (its job's stderr among it) went to stderr: stdout is the document
    assert result.stdout == '{"schema": "spark-etl/summary/1"}\n'
    assert "a log line of spark-submit" in result.stderr
    submit, shown = docker_calls(project)[-2:]
    summary = re.search(r"--summary-json (/data/logs/\.summary-[0-9]+\.json)$", submit)
    assert summary is not None, submit
    assert shown.endswith(f"summary {summary.group(1)}")
    assert "sh -c cat" in shown


@pytest.mark.parametrize(
    ("job", "args"), [("retention", ["--dry-run"]), ("restore", ["--month", "2021-03"])]
)
def test_retention_and_restore_run_on_the_cluster_without_an_input(project, job, args):
    env_file(project)
    result = run(project, "submit.sh", job, *args, FAKE_RUNNING="postgres spark-master")

    assert result.returncode == 0, result.stderr
    submit = docker_calls(project)[-1]
    assert " exec -T spark-master /opt/spark-etl/docker/spark/entrypoint.sh spark-submit " in submit
    assert submit.endswith(f"jobs/main.py {job} {' '.join(args)}")
    assert not any("generate-data" in call for call in docker_calls(project))


def test_a_failed_sample_generation_stops_before_spark_submit(project):
    env_file(project)
    result = run(project, "submit.sh", "all", FAKE_RUNNING="spark-master", FAKE_EXEC_STATUS="1")

    assert result.returncode == 1
    calls = docker_calls(project)
    assert "python jobs/main.py generate-data --output-dir /data/input" in calls[-1]
    assert not any("spark-submit" in call for call in calls)


def test_the_containers_run_as_the_user_of_the_scripts(project):
    env_file(project)
    fake = project.parent / "bin"
    path_with(project.parent, docker=True)
    (fake / "docker").unlink()
    (fake / "docker").write_text(
        '#!/usr/bin/env bash\necho "docker $* uid=$ETL_UID gid=$ETL_GID" >>"$FAKE_DOCKER_LOG"\n'
        'case "$*" in *version*) echo v2.26.1 ;; *" ps "*) echo spark-master ;; esac\n',
        encoding="utf-8",
    )
    (fake / "docker").chmod(0o755)
    result = run(project, "submit.sh", "analytics")

    assert result.returncode == 0, result.stderr
    assert docker_calls(project)[-1].endswith(
        f"python jobs/main.py analytics --output-dir /data/report uid={os.getuid()} gid={os.getgid()}"
    )


@pytest.mark.parametrize(
    ("args", "pytest_args"),
    [
        ([], "tests"),
        (["-q", "-m", "not lake"], "tests -q -m not lake"),
        (["-q", "tests/unit", "tests/integration/test_jobs.py"],
         "-q tests/unit tests/integration/test_jobs.py"),
    ],
)  # fmt: skip
def test_the_tests_in_the_stack_are_all_of_them_unless_paths_are_named(project, args, pytest_args):
    env_file(project)
    result = run(project, "submit.sh", "test", *args, FAKE_RUNNING="postgres spark-master")

    assert result.returncode == 0, result.stderr
    assert docker_calls(project)[-1].endswith(
        "spark-master /opt/spark-etl/docker/spark/entrypoint.sh env -u SPARK_CONF_DIR python -m pytest "
        f"-p no:cacheprovider {pytest_args}"
    )
