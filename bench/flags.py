"""What the merge's soft-anomaly flags cost, against what flags kept with the row would cost.

    python bench/flags.py [--rounds 2] [--output bench/results]

Run against a database the cart job has loaded (the PG* variables name it; its staged rows
are rebuilt from ``cart`` when the stage is empty): load a set generated with
``generate-data --late-fraction 1`` to see the 60% of lines flagged that some extracts carry,
or the default set (about 5%). Every statement runs in a transaction rolled back, so the
database is left as it was (the stage emptied again if this filled it). Timed per round:

  - ``flags``: the merge's own statement (``flag_rows``): a row per anomaly in ``etl_flag``,
    the counts per flag;
  - ``rows``: the staged rows written into a new table, no flags (what any merge writes);
  - ``rows + bitmask``: the same rows with a smallint of their flags computed beside them (the
    joins to customer and product the flags need): what flags kept on the model row would cost.

``flags`` against ``rows + bitmask`` minus ``rows`` is the choice. Results go to
<output>/flags-<rows>-<percent flagged>pct.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.arguments import positive  # noqa: E402
from spark_etl.config import load_settings  # noqa: E402
from spark_etl.config.connection import connection_from_env  # noqa: E402
from spark_etl.db import postgres  # noqa: E402
from spark_etl.db.flags import flag_conditions, flag_rows  # noqa: E402
from spark_etl.definitions import Entity, Model, load_entities  # noqa: E402

VARIANTS = ("flags", "rows", "rows + bitmask")


def bitmask(model: Model, entity: Entity) -> tuple[sql.Composable, sql.Composable]:
    """The flags of a staged row ``s`` as one smallint (bit n: the entity's n-th flag), and the
    joins its conditions need."""
    conditions, joins = flag_conditions(model, entity)
    bits = [
        sql.SQL("CASE WHEN {} THEN {} ELSE 0 END").format(condition, sql.Literal(1 << number))
        for number, (_, condition) in enumerate(conditions)
    ]
    return sql.SQL("CAST({} AS smallint)").format(sql.SQL(" | ").join(bits)), joins


def timed(cur: Any, statement: sql.Composable | str, *args: Any) -> float:
    started = time.perf_counter()
    cur.execute(statement, *args)
    return time.perf_counter() - started


def measure(conn: Any, model: Model, entity: Entity, rounds: int) -> dict[str, Any]:
    stage = sql.Identifier(entity.stage_table)
    flags_of, joins = bitmask(model, entity)
    seconds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    flagged: dict[str, int] = {}
    with conn.cursor() as cur:
        for _ in range(rounds):
            run_id = str(uuid.uuid4())
            cur.execute(
                "INSERT INTO etl_run (run_id, job, status, as_of, started_at) "
                "VALUES (%s, 'bench_flags', 'running', now(), now())",
                (run_id,),
            )
            started = time.perf_counter()
            flagged = flag_rows(cur, model, entity, run_id, entity.job_name)
            seconds["flags"].append(time.perf_counter() - started)
            conn.rollback()
            statement = sql.SQL("CREATE TEMPORARY TABLE bench_rows AS SELECT s.* FROM {} s")
            seconds["rows"].append(timed(cur, statement.format(stage)))
            conn.rollback()
            statement = sql.SQL(
                "CREATE TEMPORARY TABLE bench_rows AS SELECT s.*, {} AS flags FROM {} s {}"
            )
            seconds["rows + bitmask"].append(timed(cur, statement.format(flags_of, stage, joins)))
            conn.rollback()
    return {
        "seconds": {variant: statistics.mean(times) for variant, times in seconds.items()},
        "rounds": seconds,
        "flagged": flagged,
    }


def markdown(result: dict[str, Any]) -> str:
    mean = result["seconds"]
    inline = mean["rows + bitmask"] - mean["rows"]
    lines = [
        f"What the cart merge's flags cost: {result['rows']:,} staged rows, "
        f"{result['flagged'].get('', 0):,} of them flagged; the mean of {result['round_count']} "
        f"round(s), {result['machine']}, {result['when']}.",
        "",
        "| flags as `etl_flag` rows (s) | rows written (s) | rows + bitmask written (s) "
        "| bitmask's own cost (s) | rows flagged per flag |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {mean['flags']:.2f} | {mean['rows']:.2f} | {mean['rows + bitmask']:.2f} "
        f"| {inline:.2f} | "
        + ", ".join(f"{flag}: {n:,}" for flag, n in result["flagged"].items() if flag)
        + " |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive, default=2)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    settings = load_settings()
    model = load_entities()
    entity = model.entity("cart")
    conn = postgres.open_model(connection_from_env(), settings.database)
    restaged = False
    try:
        with conn.cursor() as cur:
            stage = sql.Identifier(entity.stage_table)
            cur.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(stage))
            if cur.fetchone()["n"] == 0:  # the load emptied it: the loaded rows staged again
                names = sql.SQL(", ").join(map(sql.Identifier, entity.table_columns))
                cur.execute(
                    sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                        stage, names, names, sql.Identifier(entity.table.name)
                    )
                )
                restaged = True
            cur.execute(sql.SQL("ANALYZE {}").format(stage))
            cur.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(stage))
            rows = int(cur.fetchone()["n"])
        conn.commit()
        result = measure(conn, model, entity, args.rounds)
    finally:
        if restaged:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(entity.stage_table)))
            conn.commit()
        conn.close()
    result.update(
        rows=rows,
        round_count=args.rounds,
        machine=f"{platform.node()}, {platform.platform()}",
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    args.output.mkdir(parents=True, exist_ok=True)
    name = f"flags-{rows}-{round(100 * result['flagged'].get('', 0) / max(rows, 1))}pct"
    (args.output / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (args.output / f"{name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
