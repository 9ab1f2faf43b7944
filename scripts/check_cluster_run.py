"""Show where a finished Spark job ran its tasks, from its event log and the standalone master's
status, and check that the staging writes ran in executors on the worker containers.

Usage: python3 scripts/check_cluster_run.py EVENT_LOG [--master-url URL]
(the event logs of the Docker stack are in ./data/logs/spark-events; the master's status is on
http://127.0.0.1:8080/json/). Standard library only, so it runs on the host.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

# The stages of the COPY staging writer (spark_etl.io.writers.copy_stage) are named after its line.
STAGING_CALL_SITE = "spark_etl/io/writers.py"


def tasks_by_stage(event_log: Path) -> tuple[dict[str, str], dict[int, str], dict[int, Counter]]:
    """Executor hosts, stage names and, per stage, the number of tasks each host ran."""
    executors: dict[str, str] = {}
    stage_names: dict[int, str] = {}
    hosts: dict[int, Counter] = defaultdict(Counter)
    with event_log.open(encoding="utf-8") as events:
        for line in events:
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerExecutorAdded":
                executors[event["Executor ID"]] = event["Executor Info"]["Host"]
            elif kind == "SparkListenerStageSubmitted":
                stage = event["Stage Info"]
                stage_names[stage["Stage ID"]] = stage["Stage Name"]
            elif kind == "SparkListenerTaskEnd":
                hosts[event["Stage ID"]][event["Task Info"]["Host"]] += 1
    return executors, stage_names, hosts


def worker_hosts(master_url: str) -> set[str]:
    with urllib.request.urlopen(f"{master_url.rstrip('/')}/json/", timeout=10) as response:
        status = json.load(response)
    return {worker["host"] for worker in status["workers"] if worker["state"] == "ALIVE"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event_log", type=Path)
    parser.add_argument("--master-url", default="http://127.0.0.1:8080")
    args = parser.parse_args(argv)

    executors, stage_names, hosts = tasks_by_stage(args.event_log)
    workers = worker_hosts(args.master_url)
    staging: Counter = Counter()
    for stage, counts in hosts.items():
        if STAGING_CALL_SITE in stage_names.get(stage, ""):
            staging.update(counts)
    print(f"workers (master status): {', '.join(sorted(workers))}")
    print("executors (event log): " + ", ".join(f"{i}@{h}" for i, h in sorted(executors.items())))
    per_host = ", ".join(f"{host}: {tasks}" for host, tasks in sorted(staging.items()))
    print(f"staging write tasks per host: {per_host}")
    if not staging:
        print(f"error: no staging write tasks ({STAGING_CALL_SITE}) in {args.event_log}")
        return 1
    elsewhere = set(staging) - workers
    if elsewhere:
        print(f"error: staging writes ran on {', '.join(sorted(elsewhere))}, not a worker")
        return 1
    used = f"{len(staging)} of {len(workers)} workers"
    print(f"ok: every staging write ran in an executor on a worker ({used})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
