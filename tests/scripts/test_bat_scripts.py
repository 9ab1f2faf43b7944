"""The .bat twins under wine's cmd.exe (Debian's wine64): help, argument checks and every error
message a user can meet before a job starts, with a stand-in docker.bat for the Docker checks.
The jobs themselves are not run on Windows here: a Windows Python or Java cannot be fetched.
Not checkable under wine, so left to Windows: the taken-port check (wine's netstat lists no
listening sockets), the .env created by PowerShell (wine has none), and exact exit codes of a
failing job (wine's cmd turns any failing "call" into 1)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scripts.conftest import env_file, free_ports

HERE = Path(__file__).resolve().parent
WINE_CANDIDATES = ("wine64", "wine", "/usr/lib/wine/wine64")


def wine_binary() -> str | None:
    for candidate in WINE_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


if wine_binary() is None:
    pytest.skip(
        "wine64 is not installed (./test.sh installs Debian's wine64 package)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def wine(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The wine command and a prefix of this test run (made once, about 5 s)."""
    binary = wine_binary()
    assert binary is not None
    server = Path(binary).with_name("wineserver")
    failures = []
    # Make the prefix now, so its messages stay out of the tests' output. Once in CI (never in
    # 20 tries here) wine could not start in a new prefix: status 53, its words not kept. Try
    # again in a fresh prefix, after a pause; fail with what wine said if it never starts.
    for attempt in range(3):
        if attempt:
            time.sleep(5)
        prefix = tmp_path_factory.mktemp("wineprefix")
        env = {"WINE": binary, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all"}
        made = subprocess.run(
            [binary, "cmd", "/c", "ver"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if made.returncode == 0:
            break
        failures.append(f"status {made.returncode}: {made.stdout.strip()} {made.stderr.strip()}")
        stop_wineserver(server, env)
    else:
        pytest.fail("wine could not start cmd in a new prefix, 3 times:\n" + "\n".join(failures))
    yield env
    stop_wineserver(server, env)


def stop_wineserver(server: Path, env: dict[str, str]) -> None:
    if server.exists():
        subprocess.run([str(server), "-k"], env={**os.environ, **env}, check=False)


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


def cmd(wine, project: Path, script: str, *args: str, docker: bool = True, **fake: str):
    """Run ``script`` with cmd /c under wine; stdout and stderr with trailing blanks stripped."""
    env = {**os.environ, **wine, "FAKE_DOCKER_LOG": windows_path(project.parent / "docker.log")}
    env.pop("WINEPATH", None)
    if docker:
        bin_dir = project.parent / "bin"
        bin_dir.mkdir(exist_ok=True)
        shutil.copy2(HERE / "stand_in_docker.bat", bin_dir / "docker.bat")
        env["WINEPATH"] = windows_path(bin_dir)
    env.update(free_ports())  # the environment wins over .env
    env.update(fake)
    command = " ".join([windows_path(project / script), *args])
    for attempt in range(3):
        if attempt:
            time.sleep(2)
        result = subprocess.run(
            [wine["WINE"], "cmd", "/c", command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # Rarely (once in several hundred runs here, twice in a row once in CI) wine fails to
        # start cmd at all: status 1 and not a word. Run that again, after a pause; a script
        # that really fails quietly fails every time.
        if result.returncode != 1 or result.stdout.strip() or result.stderr.strip():
            break
    strip = lambda text: "\n".join(line.rstrip() for line in text.splitlines())  # noqa: E731
    return result.returncode, strip(result.stdout), strip(result.stderr)


def docker_calls(project: Path) -> list[str]:
    log = project.parent / "docker.log"
    return (
        [line.rstrip() for line in log.read_text(encoding="utf-8").splitlines()]
        if log.exists()
        else []
    )


@pytest.mark.parametrize(
    ("script", "first_line"),
    [
        (
            "submit.bat",
            "Usage: submit.bat JOB [ARGS...]           run JOB on the Docker stack (start.bat first)",
        ),
        (
            "start.bat",
            "Usage: start.bat [--workers N]   build and start the Docker stack (Spark master, N workers,",
        ),
        (
            "stop.bat",
            "Usage: stop.bat [--purge]   stop the Docker stack; --purge also deletes its volumes (the database)",
        ),
        (
            "test.bat",
            "Usage: test.bat [PYTEST ARGS]   linters, mypy, the docs build, then pytest; installs what is missing first",
        ),
    ],
)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_printed_for_both_flags(wine, project, script, first_line, flag):
    status, out, err = cmd(wine, project, script, flag)

    assert status == 0, (out, err)
    assert out.splitlines()[0] == first_line


def test_submit_without_a_job_prints_usage_and_fails(wine, project):
    status, _, err = cmd(wine, project, "submit.bat")

    assert status == 2
    assert err.splitlines()[0].startswith("Usage: submit.bat JOB")


def test_an_unknown_job_is_named(wine, project):
    status, _, err = cmd(wine, project, "submit.bat", "nosuchjob")

    assert status == 2
    assert err == (
        "error: unknown job 'nosuchjob'; choose one of: cart_data_transform "
        "customer_data_transform product_data_transform all analytics quality plan retention restore lake "
        "generate_data test."
    )


@pytest.mark.parametrize("workers", [["two"], ["0"], ["-1"], []])
def test_workers_must_be_a_positive_number(wine, project, workers):
    status, _, err = cmd(wine, project, "start.bat", "--workers", *workers)

    assert status == 2
    assert err == "error: --workers needs a number of workers (1 or more)."
    assert docker_calls(project) == []


@pytest.mark.parametrize("script", ["stop.bat --bogus", "start.bat --bogus"])
def test_an_unknown_option_is_named(wine, project, script):
    name, option = script.split()
    status, _, err = cmd(wine, project, name, option)

    assert status == 2
    assert err == f"error: unknown option '--bogus'; see {name} --help."


@pytest.mark.parametrize("script", [["start.bat"], ["stop.bat"], ["submit.bat", "all"]])
def test_docker_not_installed_is_one_line(wine, project, script):
    status, _, err = cmd(wine, project, *script, docker=False)

    assert status == 2
    assert (
        err
        == "error: Docker is not installed; install Docker Desktop (with Compose), or run with --local."
    )


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (
            {"FAKE_DOCKER_INFO": "down"},
            "error: the Docker engine is not running (docker info failed); start Docker Desktop, or run with --local.",
        ),
        (
            {"FAKE_COMPOSE_VERSION": "none"},
            "error: Docker Compose v2 is missing (docker compose version failed); install the Compose plugin, 2.20.0 or newer (docker-compose 1.x is not supported).",
        ),
        (
            {"FAKE_COMPOSE_VERSION": "v2.10.2"},
            "error: Docker Compose 2.10.2 is too old; install 2.20.0 or newer.",
        ),
        (
            {"FAKE_COMPOSE_VERSION": "1.29.2"},
            "error: Docker Compose 1.29.2 is too old; install 2.20.0 or newer.",
        ),
    ],
    ids=["engine-down", "compose-missing", "compose-2.10", "compose-1.29"],
)
def test_an_unusable_docker_is_named(wine, project, fake, message):
    status, _, err = cmd(wine, project, "start.bat", **fake)

    assert status == 2
    assert err == message


def test_start_brings_the_stack_up_and_waits_for_the_workers(wine, project):
    env_file(project)
    status, _, err = cmd(wine, project, "start.bat", "--workers", "2", FAKE_WORKERS="2")

    assert status == 0, err
    assert re.fullmatch(
        r"The stack is up: Spark master http://127.0.0.1:\d+ with 2 worker\(s\), history "
        r"http://127.0.0.1:\d+, PostgreSQL on 127.0.0.1:\d+ \(credentials in .env\)\. "
        r"Run a job: submit.bat all",
        err.splitlines()[-1],
    )
    calls = docker_calls(project)
    assert any(call.endswith("up --detach --build --wait --scale spark-worker=2") for call in calls)
    for folder in ("data/input", "data/report", "data/logs/spark-events"):
        assert (project / folder).is_dir(), folder


@pytest.mark.parametrize(
    ("worker", "executor", "message"),
    [
        (
            "2g",
            "2049m",
            "error: SPARK_EXECUTOR_MEMORY (2049m) is more than SPARK_WORKER_MEMORY (2g): no worker "
            "could start an executor and every job would wait. Lower SPARK_EXECUTOR_MEMORY in "
            ".env, or leave it empty for the worker's whole memory.",
        ),
        (
            "2g",
            "1024",
            "error: SPARK_EXECUTOR_MEMORY in .env must be a size with its unit, such as 2g or "
            "1536m (found '1024').",
        ),
        (
            "two",
            "",
            "error: SPARK_WORKER_MEMORY in .env must be a size with its unit, such as 2g or "
            "1536m (found 'two').",
        ),
    ],
    ids=["larger", "bare-number", "not-a-size"],
)
def test_an_executor_larger_than_its_worker_is_refused(wine, project, worker, executor, message):
    env_file(project)
    status, _, err = cmd(
        wine, project, "start.bat", SPARK_WORKER_MEMORY=worker, SPARK_EXECUTOR_MEMORY=executor
    )

    assert status == 2
    assert err == message
    assert not any(
        call.endswith("up --detach --build --wait --scale spark-worker=1")
        for call in docker_calls(project)
    )


@pytest.mark.parametrize(("worker", "executor"), [("2g", ""), ("4GB", "4096m"), ("1t", "512g")])
def test_an_executor_that_fits_its_worker_starts(wine, project, worker, executor):
    env_file(project)
    status, _, err = cmd(
        wine, project, "start.bat", SPARK_WORKER_MEMORY=worker, SPARK_EXECUTOR_MEMORY=executor
    )

    assert status == 0, err
    assert "The stack is up" in err


def test_a_changed_password_says_why_and_how_to_fix_it(wine, project):
    env_file(project)
    status, _, err = cmd(
        wine,
        project,
        "start.bat",
        FAKE_LOGIN="credentials",
    )

    assert status == 2
    assert err.splitlines()[-1] == (
        "error: PostgreSQL refuses the user or password of .env: the database volume was created "
        "with other credentials. Put the old ones back in .env, or set the new password in the "
        'database with: docker compose -p spark-etl exec postgres psql -U etl -d postgres -c "\\password etl" '
        "(or delete the database with stop.bat --purge)."
    )


def test_submit_before_start_says_to_start_first(wine, project):
    env_file(project)
    status, _, err = cmd(wine, project, "submit.bat", "all")

    assert status == 2
    assert err == "error: the Docker stack is not up; run start.bat first (or use --local)."


@pytest.mark.parametrize("script", [["stop.bat"], ["submit.bat", "all"]])
def test_a_missing_env_file_is_named(wine, project, script):
    status, _, err = cmd(wine, project, *script, FAKE_RUNNING="spark-master")

    assert status == 2
    assert err == (
        f"error: {windows_path(project)}\\.env is missing; it holds the stack's settings (start.bat "
        "creates it). Restore it, or remove the stack with: docker compose -p spark-etl down"
    )


def test_a_failed_sample_generation_stops_before_spark_submit(wine, project):
    env_file(project)
    status, _, _ = cmd(
        wine, project, "submit.bat", "all", FAKE_RUNNING="spark-master", FAKE_EXEC_STATUS="1"
    )

    assert status == 1
    calls = docker_calls(project)
    assert "python jobs/main.py generate-data --output-dir /data/input" in calls[-1]
    assert not any("spark-submit" in call for call in calls)


def test_a_job_runs_through_the_entry_point_and_its_failure_is_the_scripts(wine, project):
    env_file(project)
    status, _, _ = cmd(
        wine, project, "submit.bat", "cart_data_transform", "--input-dir", "/data/input/2024-11",
        FAKE_RUNNING="postgres spark-master", FAKE_EXEC_STATUS="3",
    )  # fmt: skip

    # cmd.exe passes the job's code on; wine's cmd turns any failing "call" into 1.
    assert status == 1
    submit = docker_calls(project)[-1]
    assert "exec -T spark-master /opt/spark-etl/docker/spark/entrypoint.sh spark-submit" in submit
    assert submit.endswith(
        'jobs/main.py load cart_data_transform  "--input-dir" "/data/input/2024-11"'
    )


def test_retention_runs_on_the_cluster_through_its_own_entry_point(wine, project):
    env_file(project)
    status, _, err = cmd(
        wine, project, "submit.bat", "retention", "--dry-run", FAKE_RUNNING="postgres spark-master"
    )

    assert status == 0, err
    submit = docker_calls(project)[-1]
    assert "exec -T spark-master /opt/spark-etl/docker/spark/entrypoint.sh spark-submit" in submit
    assert submit.endswith('jobs/main.py retention  "--dry-run"')


def test_a_jobs_own_help_does_not_generate_the_sample(wine, project):
    env_file(project)
    status, out, err = cmd(wine, project, "submit.bat", "all", "-h", FAKE_RUNNING="spark-master")

    assert status == 0, (out, err)
    calls = docker_calls(project)
    assert not any("generate-data" in call for call in calls)
    assert calls[-1].endswith('jobs/main.py load all  "-h"')


def test_quality_runs_in_the_master_without_spark_and_its_failure_is_the_scripts(wine, project):
    env_file(project)
    status, _, _ = cmd(
        wine, project, "submit.bat", "quality", "--job", "cart",
        FAKE_RUNNING="postgres spark-master", FAKE_EXEC_STATUS="4",
    )  # fmt: skip

    # exit code 4 on Windows (exit /b %ERRORLEVEL%); wine's cmd turns any failure into 1
    assert status == 1
    calls = docker_calls(project)
    assert calls[-1].endswith('python jobs/main.py quality  "--job" "cart"')
    assert not any("spark-submit" in call for call in calls)


def test_a_json_summary_on_stdout_comes_alone_after_spark_submit(wine, project):
    env_file(project)
    status, out, err = cmd(
        wine, project, "submit.bat", "cart_data_transform", "--input-dir", "/data/input",
        "--summary-json", "-", FAKE_RUNNING="postgres spark-master",
        FAKE_EXEC_OUTPUT='{"schema": "spark-etl/summary/1"}',
    )  # fmt: skip

    assert status == 0, err
    # spark-submit's output went to stderr; stdout holds what the summary file held
    assert out == '{"schema": "spark-etl/summary/1"}'
    submit, shown, removed = docker_calls(project)[-3:]
    summary = re.search(r'"--summary-json" "(/data/logs/\.summary-[0-9]+\.json)"$', submit)
    assert summary is not None, submit
    assert shown.endswith(f"entrypoint.sh cat {summary.group(1)}")
    assert removed.endswith(f"entrypoint.sh rm -f {summary.group(1)}")


@pytest.mark.parametrize(
    ("args", "pytest_args"),
    [(["-q"], 'tests  "-q"'), (["tests/unit"], '  "tests/unit"')],
)
def test_the_tests_in_the_stack_are_all_of_them_unless_paths_are_named(
    wine, project, args, pytest_args
):
    env_file(project)
    status, _, err = cmd(wine, project, "submit.bat", "test", *args,
                         FAKE_RUNNING="postgres spark-master")  # fmt: skip

    assert status == 0, err
    assert docker_calls(project)[-1].endswith(f"python -m pytest -p no:cacheprovider {pytest_args}")
