"""What the quality gates cost: the three loads of the suite, timed in one run, by

  - ``base``: the code of another revision (default: the last commit before the gates);
  - ``none``: this code with no gate set (its figures still go to etl_run_metric);
  - ``gates``: this code with every kind of gate set for every entity, none of them tripping.

    ./bench/gates.sh --size 10000000 [--base REV] [--rounds 2] [--work DIR] [--output DIR]

Each variant loads the same generated input (customers, products, then cart lines) into a fresh
database of the same throwaway PostgreSQL, in a process of its own; with ``--rounds 2`` the
order is reversed in the second round (base none gates, gates none base) and each variant's
times are the mean of its rounds. Results go to <output>/gates-<size>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BASE = "c938cf4"  # the last commit before the quality gates
VARIANTS = ("base", "none", "gates")
GATES = """\
quality:
  history_runs: 7
"""
ENTITY_GATES = """\
  {entity}:
    warn_set_aside_share: 0.4
    fail_set_aside_share: 0.5
    warn_reason_share: {{"not a whole number": 0.4, "not found in": 0.4}}
    fail_reason_share: {{"is missing": 0.5}}
    warn_flag_share: {{"before its": 0.99, "deleted before": 0.5}}
    fail_flag_share: {{"created": 1.0}}
    warn_row_count_change: 0.9
    fail_row_count_change: 1.0
"""


def measure(variant: str, size: int, input_dir: Path, config: Path | None) -> dict[str, Any]:
    """One variant's three loads (run in its own process, with ``spark_etl`` of its code)."""
    from psycopg2 import sql

    from spark_etl.config import Connection, connection_from_env, load_settings
    from spark_etl.db import postgres
    from spark_etl.runs import pipeline
    from spark_etl.runs.run_context import RunContext, entity_job
    from spark_etl.spark.session import build_session

    base = connection_from_env()
    name = f"bench_gates_{variant}_{size}"
    admin = postgres.connect(base, "public", 10)
    admin.autocommit = True
    with admin.cursor() as cur:  # a fresh database of the variant's own
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    connection = Connection(base.host, base.port, name, base.user, base.password)
    settings = load_settings(config)
    settings = settings.model_copy(
        update={
            "spark": settings.spark.model_copy(
                update={
                    "master": "local[2]",
                    "ui_enabled": False,
                    "log_level": "ERROR",
                    "driver_memory": os.environ.get("BENCH_DRIVER_MEMORY", "8g"),
                }
            )
        }
    )
    spark = build_session(settings.spark, settings.database.jdbc_jar)
    ctx = RunContext(settings, connection, str(input_dir), datetime(2030, 1, 1))
    seconds = {}
    for entity in ctx.model.jobs["all"]:
        job = entity_job(entity)
        started = time.perf_counter()
        pipeline.load_entity(spark, ctx, job, [])
        seconds[job.name] = time.perf_counter() - started
    spark.stop()
    return {"variant": variant, "seconds": seconds, "loads": sum(seconds.values())}


def _run_variant(
    variant: str, size: int, code: Path, input_dir: Path, config: Path | None
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", variant, "--size", str(size)]
    command += ["--input", str(input_dir)] + (["--config", str(config)] if config else [])
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/gates.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.size, args.input, args.config)))
        return 0

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from run import revision, throwaway_postgres

    from spark_etl.definitions import load_entities
    from spark_etl.local import datagen

    args.work.mkdir(parents=True, exist_ok=True)
    input_dir = args.work / f"input-{args.size}"
    if not (input_dir / "carts.csv").is_file():
        print(f"generating {args.size:,} cart lines ...", file=sys.stderr, flush=True)
        datagen.generate(input_dir, datagen.DataSpec.scaled(args.size, seed=1, broken_fraction=0.0))
    base_code = args.work / f"code-{args.base}"
    if not base_code.is_dir():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base_code), args.base],
            check=True,
            capture_output=True,
        )
    config = args.work / "gates.yaml"
    entities = [entity.entity for entity in load_entities().entities]
    config.write_text(
        GATES + "".join(ENTITY_GATES.format(entity=name) for name in entities), encoding="utf-8"
    )
    code = {"base": base_code, "none": REPO, "gates": REPO}
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    with throwaway_postgres("spark-etl-bench-gates-pg-", 54398):
        for round_number in range(args.rounds):
            order = VARIANTS if round_number % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                print(f"round {round_number + 1}: {variant} ...", file=sys.stderr, flush=True)
                runs[variant].append(
                    _run_variant(
                        variant,
                        args.size,
                        code[variant],
                        input_dir,
                        config if variant == "gates" else None,
                    )
                )
    result = summary(runs, args.size, args.base, revision())
    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / f"gates-{args.size // 1_000_000}m"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


def summary(
    runs: dict[str, list[dict[str, Any]]], size: int, base: str, measured: str
) -> dict[str, Any]:
    """Each variant's mean seconds per job and over the loads, and the ratios."""
    mean = {
        variant: {
            "jobs": {
                job: statistics.mean(run["seconds"][job] for run in results)
                for job in results[0]["seconds"]
            },
            "loads": statistics.mean(run["loads"] for run in results),
        }
        for variant, results in runs.items()
    }
    cart = "cart_data_transform"
    return {
        "size": size,
        "base": base,
        "revision": measured,
        "rounds": runs,
        "mean": mean,
        "ratios": {
            "cart_gates_vs_none": mean["gates"]["jobs"][cart] / mean["none"]["jobs"][cart],
            "loads_gates_vs_none": mean["gates"]["loads"] / mean["none"]["loads"],
            "cart_gates_vs_base": mean["gates"]["jobs"][cart] / mean["base"]["jobs"][cart],
            "loads_gates_vs_base": mean["gates"]["loads"] / mean["base"]["loads"],
            "loads_none_vs_base": mean["none"]["loads"] / mean["base"]["loads"],
        },
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Quality gates' cost, {result['size']:,} cart lines",
        "",
        f"Measured code: {result['revision']}; base: {result['base']} (before the gates); "
        f"{len(result['rounds']['base'])} round(s), mean seconds.",
        "",
        "| variant | " + " | ".join(result["mean"]["base"]["jobs"]) + " | the three loads |",
        "|---|" + "---|" * (len(result["mean"]["base"]["jobs"]) + 1),
    ]
    for variant, mean in result["mean"].items():
        cells = " | ".join(f"{seconds:.1f}" for seconds in mean["jobs"].values())
        lines.append(f"| {variant} | {cells} | {mean['loads']:.1f} |")
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {name} | {value:.3f} |" for name, value in result["ratios"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
