"""Results equality: the same input loaded by an earlier version of the code and by this one.

    ./bench/equality.sh --base REV [--size 1000000] [--work .local/bench]

Both versions run as a user runs them (their own ``jobs/all.py``, then the cart job again on a
full snapshot with 1% of the lines changed, then on a delta of those lines), each into its own
model and analytics schemas of one database, on the same generated input (with broken rows, so
rejects are numbered too). Then every model table and every analytics view of one is compared
with the other's by ``EXCEPT ALL`` both ways: rows of one that the other lacks, counted with
their repeats. Columns that name a run (ids, times, input folders) are left out. Exit 0 only
when every comparison is empty; the times of both versions are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from psycopg2 import sql  # noqa: E402

from bench.databases import fresh_database, throwaway_postgres  # noqa: E402
from bench.inputs import incremental_input  # noqa: E402
from spark_etl.config import Connection, connection_from_env  # noqa: E402
from spark_etl.db import postgres  # noqa: E402
from spark_etl.local import datagen  # noqa: E402

AS_OF = "2030-01-01"  # the same price-change time for both versions
# columns whose values name the run rather than the data
RUN_COLUMNS = {
    "etl_run": {"run_id", "started_at", "finished_at", "stage_seconds"},
    "etl_reject": {"reject_id", "run_id"},
    "etl_flag": {"flag_id", "run_id"},
    "etl_run_metric": {"run_id", "started_at"},
    "data_quality_runs": {"run_id", "started_at"},
    "data_quality_latest": {"run_id", "started_at"},
    "data_quality_reasons": {"started_at"},
}
# columns compared at a number of decimals: product_activity's average days from a product's
# creation to its sales was a mean of quotients each rounded at about 16 digits; it is now the
# exact sum of seconds divided once (its last digit can differ, its first 10 decimals cannot)
ROUNDED = {"product_activity": {"avg_days_creation_to_sale": 10}}
# rows whose values are timings of the run, not data
RUN_ROWS = {"etl_run_metric": "metric NOT IN ('seconds', 'rows_per_second')"}
# staging is spent; archives need a retention run; the analytics schema's bookkeeping (the hash
# of its definition, the cart partitions (oids) its summaries cover, the times of its last
# refresh's steps) names no data; the DDL each version applied (etl_migration) differs whenever
# the code's DDL does, by design
SKIPPED = (
    "stage_%",
    "etl_archive",
    "definition",
    "cart_range_summarized",
    "refresh_step",
    "etl_migration",
)


def tree_of(revision: str, target: Path) -> Path:
    """The files of ``revision`` (as committed) in ``target``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision], capture_output=True, check=False
    )
    if archive.returncode != 0:
        said = archive.stderr.decode(errors="replace").strip().splitlines() or ["git said nothing"]
        raise SystemExit(f"--base {revision}: not a revision of {REPO} ({said[-1]}).")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def load(tree: Path, side: str, connection: Connection, inputs: list[Path], work: Path) -> float:
    """Run ``tree``'s jobs over ``inputs`` (all entities, then carts again); return seconds."""
    config = work / f"equality-{side}.yaml"
    config.write_text(
        f"database:\n  schema: {side}_model\n  analytics_schema: {side}_analytics\n"
        "spark:\n  master: local[2]\n  ui_enabled: false\n  log_level: ERROR\n"
        f"  driver_memory: {os.environ.get('BENCH_DRIVER_MEMORY', '8g')}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "PGDATABASE": connection.database,
        "SPARK_ETL_LOG_DIR": str(work / f"logs-{side}"),
    }
    started = time.perf_counter()
    for number, folder in enumerate(inputs):
        job = "all.py" if number == 0 else "cart_data_transform.py"
        command = [sys.executable, str(tree / "jobs" / job), "--input-dir", str(folder)]
        command += ["--config", str(config), "--as-of", AS_OF]
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{side} {job} on {folder} failed:\n{done.stderr[-3000:]}")
        print(f"  {side}: {job} {folder.name} done", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def relations(conn: Any, schema: str) -> dict[str, list[str]]:
    """Tables (not partitions), views and materialized views of ``schema``, with the columns
    compared. The two materialized views storing an analytics view (``x__a``, ``x__b``; one is
    empty) are compared through that view (``x``)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.relname AS name, array_agg(a.attname ORDER BY a.attnum) AS columns "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition "
            "AND NOT (c.relkind = 'm' AND c.relname ~ '__[ab]$') "
            "GROUP BY c.relname ORDER BY c.relname",
            (schema,),
        )
        rows = cur.fetchall()
    return {
        row["name"]: [c for c in row["columns"] if c not in RUN_COLUMNS.get(row["name"], ())]
        for row in rows
        if not any(_like(row["name"], pattern) for pattern in SKIPPED)
    }


def _like(name: str, pattern: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("%") else name == pattern


def missing_rows(conn: Any, old: str, new: str, name: str, columns: list[str]) -> tuple[int, int]:
    """Rows of ``old.name`` not in ``new.name`` and the other way round, repeats counted."""
    rounded = ROUNDED.get(name, {})
    listed = sql.SQL(", ").join(
        sql.SQL("round({}, {})").format(sql.Identifier(c), sql.Literal(rounded[c]))
        if c in rounded
        else sql.Identifier(c)
        for c in columns
    )
    where = sql.SQL(RUN_ROWS.get(name, "true"))
    counts = []
    for first, second in ((old, new), (new, old)):
        query = sql.SQL(
            "SELECT count(*) AS n FROM (SELECT {c} FROM {a} WHERE {w} "
            "EXCEPT ALL SELECT {c} FROM {b} WHERE {w}) d"
        ).format(c=listed, a=sql.Identifier(first, name), b=sql.Identifier(second, name), w=where)
        with conn.cursor() as cur:
            cur.execute(query)
            counts.append(int(cur.fetchone()["n"]))
    return counts[0], counts[1]


SCHEMAS = {"model": ("old_model", "new_model"), "analytics": ("old_analytics", "new_analytics")}


def compare(
    connection: Connection, schemas: dict[str, tuple[str, str]] = SCHEMAS
) -> list[dict[str, Any]]:
    """Per relation of each pair of schemas (old, new): its rows in the new one, the columns
    compared, the rows only one of them holds; or the side a relation exists on alone."""
    conn = postgres.connect(connection, "public", 10)
    try:
        results = []
        for kind, (old_schema, new_schema) in schemas.items():
            old, new = relations(conn, old_schema), relations(conn, new_schema)
            for name in sorted(old.keys() | new.keys()):
                if name not in old or name not in new:
                    results.append(
                        {"relation": f"{kind}.{name}", "only_in": "old" if name in old else "new"}
                    )
                    continue
                columns = [c for c in old[name] if c in new[name]]
                with conn.cursor() as cur:
                    cur.execute(
                        sql.SQL("SELECT count(*) AS n FROM {}").format(
                            sql.Identifier(new_schema, name)
                        )
                    )
                    rows = int(cur.fetchone()["n"])
                lost, added = missing_rows(conn, old_schema, new_schema, name, columns)
                results.append(
                    {
                        "relation": f"{kind}.{name}",
                        "rows": rows,
                        "columns": len(columns),
                        "only_old": lost,
                        "only_new": added,
                        "left_out": sorted(set(old[name]) ^ set(new[name])),
                    }
                )
        return results
    finally:
        conn.close()


def differing(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The relations whose rows differ, and those only the old code has (an answer lost); a
    relation only the new code has is listed by ``compare`` but changes no earlier answer."""
    return [
        r for r in results if r.get("only_old") or r.get("only_new") or r.get("only_in") == "old"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/equality.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the earlier revision (a commit, a tag)")
    parser.add_argument("--size", type=int, default=1_000_000, help="cart lines")
    parser.add_argument("--work", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument("--output", type=Path, help="write the comparison as JSON here")
    args = parser.parse_args()
    work = args.work.resolve()
    input_dir = work / f"equality-input-{args.size}"
    if not (input_dir / "carts.csv").is_file():
        print(f"generating {args.size:,} cart lines (2% broken) ...", file=sys.stderr, flush=True)
        datagen.generate(input_dir, datagen.DataSpec.scaled(args.size, seed=7))
    inputs = [input_dir]
    for kind in ("snapshot", "delta"):
        folder = work / f"equality-{kind}-{args.size}"
        if not (folder / "carts.csv").is_file():
            incremental_input(input_dir, folder, delta=kind == "delta")
        inputs.append(folder)
    with throwaway_postgres("spark-etl-equality-pg-", 54398):
        connection = fresh_database(connection_from_env(), f"equality_{args.size}")
        old_tree = tree_of(args.base, work / "equality-base")
        seconds = {
            "old": load(old_tree, "old", connection, inputs, work),
            "new": load(REPO, "new", connection, inputs, work),
        }
        results = compare(connection)
    different = differing(results)
    for result in results:
        print(json.dumps(result))
    summary = {
        "base": args.base,
        "size": args.size,
        "relations": len(results),
        "differing": len(different),
        "seconds": {side: round(value, 1) for side, value in seconds.items()},
    }
    print(json.dumps(summary))
    if args.output:
        args.output.write_text(
            json.dumps({**summary, "results": results}, indent=1), encoding="utf-8"
        )
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
