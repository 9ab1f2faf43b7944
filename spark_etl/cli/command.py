"""``spark-etl`` (and ``python -m spark_etl``): one command with a subcommand per job.

Only this module is imported for ``--help`` and ``--version``: they answer at once, with no
Spark, no database and no log file.
"""

from __future__ import annotations

import sys
from functools import partial

from spark_etl import __version__

EXIT_CODES = """exit codes:
  0  done
  1  unexpected failure (the trace is in the log file)
  2  your mistake: an option, a setting, a definition or the input; fix it and run again
  3  the loads committed, but refreshing the analytics views failed; run analytics again
  4  a quality gate stopped a load: it was rolled back, its rejects kept (spark-etl quality)
  75 temporary: another load holds the lock, PostgreSQL is down, starting or in recovery, or
     the connection was lost; nothing uncommitted is left: retry later"""
# subcommand -> (job run by spark_etl.cli.main, what it does)
SUBCOMMANDS = {
    "load": ("", "load extracts: JOB is all, an entity (cart) or its job (cart_data_transform)"),
    "analytics": ("analytics", "refresh the analytics views, print the answers, write the report"),
    "quality": ("quality", "the recent runs with their figures and quality gates"),
    "plan": ("plan", "print the DDL a load of JOB would apply now; change nothing"),
    "retention": ("retention", "archive old months and audit rows to Parquet, verified"),
    "restore": ("restore", "bring an archived month back"),
    "lake": ("lake", "lake sync: write again what the Iceberg lake holds unlike PostgreSQL"),
    "generate-data": ("generate_data", "write a synthetic input set"),
}
USAGE = "usage: spark-etl [--version] [--help] COMMAND [ARGS]"


def _help() -> str:
    width = max(map(len, SUBCOMMANDS))
    commands = "\n".join(f"  {name:<{width}}  {what}" for name, (_, what) in SUBCOMMANDS.items())
    return (
        f"{USAGE}\n\nBatch ETL on Apache Spark: raw e-commerce extracts into PostgreSQL.\n\n"
        f"commands:\n{commands}\n\n`spark-etl COMMAND --help` lists a command's options.\n\n"
        f"{EXIT_CODES}\n"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_help(), end="")
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"spark-etl {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(
            f"{USAGE}\nspark-etl: error: unknown command '{command}'; choose one of: "
            f"{', '.join(SUBCOMMANDS)}",
            file=sys.stderr,
        )
        return 2
    # the jobs import Spark and psycopg2: only once a command is chosen
    from spark_etl.cli import main as jobs

    job = SUBCOMMANDS[command][0]
    if command == "quality":
        from spark_etl.cli import quality

        return jobs.run(job, quality.run_quality, rest)
    if command == "load":
        if not rest or rest[0].startswith("-"):
            if rest[:1] in (["-h"], ["--help"]):
                jobs.load_parser("spark-etl load JOB").print_help()
                return 0
            print("usage: spark-etl load JOB [--input-dir DIR] [OPTIONS]", file=sys.stderr)
            print("spark-etl load: error: name the JOB to run (all, or an entity)", file=sys.stderr)
            return 2
        job = rest[0]
        return jobs.run(job, partial(jobs.run_load, job, tools=()), rest[1:])
    return jobs.main(job, rest)
