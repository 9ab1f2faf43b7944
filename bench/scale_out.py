"""Scale-out on the Docker stack: the same suite with 1, 2, ... Spark workers, phase by phase.

    python3 bench/scale_out.py [--carts 1000000] [--workers 1,2] [--cores-per-worker 1]
                               [--memory-per-worker 2g] [--output bench/results]

For each worker count the stack is started afresh (``./stop.sh --purge``, then ``./start.sh
--workers N`` with SPARK_WORKER_CORES cores and SPARK_WORKER_MEMORY each, which its executor
takes whole: an empty database), the same generated input
(``./submit.sh generate_data``, once, in ./data/input) is loaded by ``./submit.sh all
--no-refresh`` and the views are refreshed by ``./submit.sh analytics``; each job's phases come
from the load's summary (--summary-json), the refresh and the wall times are timed here. The
table shows each phase's seconds per worker count and its speed-up against the first count:
what scales with executors (reading, checking, staging) and what the one PostgreSQL bounds
(merge, refresh). Needs the Docker engine and Compose v2 reachable (scripts/docker-ci.sh
installs and starts them when run as root once); stops the stack when done. Standard library
only: it runs with the host's python3, outside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.arguments import positive  # noqa: E402

PHASES = ("read_validate", "stage", "merge")


def sh(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    """Run a project script from the checkout; its output passes through unless captured."""
    done = subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout if capture else ""


def stop() -> None:
    """The stack and its database removed (./start.sh writes .env, which ./stop.sh needs)."""
    if (ROOT / ".env").exists():
        sh("./stop.sh", "--purge")


def timed(*args: str, capture: bool = False) -> tuple[float, str]:
    started = time.monotonic()
    out = sh(*args, capture=capture)
    return time.monotonic() - started, out


def measure(workers: int, cores: int, memory: str, input_dir: str, carts: int) -> dict[str, Any]:
    """One worker count: a fresh stack, the load, the refresh."""
    stop()
    resources = {"SPARK_WORKER_CORES": str(cores), "SPARK_WORKER_MEMORY": memory}
    sh("./start.sh", "--workers", str(workers), env=resources)
    if not (ROOT / "data" / "input" / Path(input_dir).name / "carts.csv").exists():
        sh(
            "./submit.sh", "generate_data", "--output-dir", input_dir,
            "--carts", str(carts), "--seed", "1",
        )  # fmt: skip
    load_s, out = timed(
        "./submit.sh", "all", "--input-dir", input_dir, "--no-refresh", "--summary-json", "-",
        capture=True,
    )  # fmt: skip
    summary = json.loads(out[out.index("{") :])
    refresh_s, _ = timed(
        "./submit.sh", "analytics", "--output-dir", "/data/report/scale-out", capture=True
    )
    jobs = {
        run["job"]: {phase: run["seconds"].get(phase, 0.0) for phase in PHASES}
        for run in summary["runs"]
    }
    return {"workers": workers, "load": load_s, "refresh": refresh_s, "jobs": jobs}


def table(results: list[dict[str, Any]], carts: int, cores: int, memory: str) -> str:
    base = results[0]
    counts = [r["workers"] for r in results]
    head = ["phase", *(f"{n} worker(s) (s)" for n in counts[:1])]
    for n in counts[1:]:
        head += [f"{n} workers (s)", f"speed-up x{n} ÷ x{counts[0]}"]
    rows: list[list[str]] = []

    def add(name: str, pick: Any) -> None:
        row = [name, f"{pick(base):.1f}"]
        for r in results[1:]:
            row += [f"{pick(r):.1f}", f"{pick(base) / pick(r):.2f}" if pick(r) else "—"]
        rows.append(row)

    for job in base["jobs"]:
        for phase in PHASES:
            add(f"{job}: {phase}", lambda r, j=job, p=phase: r["jobs"][j][p])
    add(
        "the rest of the loads (Spark's start, DDL, the lake's writes)",
        lambda r: r["load"] - sum(sum(job.values()) for job in r["jobs"].values()),
    )
    add("the three loads (submit.sh all, wall)", lambda r: r["load"])
    add("analytics refresh + report (submit.sh analytics, wall)", lambda r: r["refresh"])
    add("suite (wall)", lambda r: r["load"] + r["refresh"])
    lines = [
        f"Scale-out on the Docker stack: {carts:,} cart lines, {cores} core(s) and {memory} "
        "per worker (one executor each), "
        f"{os.cpu_count()} cores on the machine ({platform.node()}), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| " + " | ".join(head) + " |",
        "| --- |" + " ---: |" * (len(head) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]
    return "\n".join(lines)


def worker_counts(text: str) -> list[int]:
    """``1,2`` -> [1, 2]: whole numbers of at least 1 (argparse turns the error into a line)."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of worker counts like 1,2")
    return counts


def memory_size(text: str) -> str:
    """A JVM memory size like 4g or 3500m, as Spark's worker takes it."""
    if not re.fullmatch(r"[1-9][0-9]*[mg]", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a memory size like 4g or 3500m")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carts", type=positive, default=1_000_000)
    parser.add_argument(
        "--workers", type=worker_counts, default=[1, 2], help="worker counts, comma-separated"
    )
    parser.add_argument("--cores-per-worker", type=positive, default=1)
    parser.add_argument(
        "--memory-per-worker", type=memory_size, default="2g",
        help="SPARK_WORKER_MEMORY, which each worker's executor takes whole",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if shutil.which("docker") is None:
        print(
            "error: docker is not installed; run scripts/docker-ci.sh as root once.",
            file=sys.stderr,
        )
        return 2
    counts: list[int] = args.workers
    input_dir = f"/data/input/scale-out-{args.carts}"
    results = []
    try:
        for workers in counts:
            results.append(
                measure(
                    workers, args.cores_per_worker, args.memory_per_worker, input_dir, args.carts
                )
            )
    finally:
        stop()
    args.output.mkdir(parents=True, exist_ok=True)
    name = f"scale-out-{args.carts}"
    (args.output / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = table(results, args.carts, args.cores_per_worker, args.memory_per_worker)
    (args.output / f"{name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
