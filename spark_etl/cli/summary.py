"""``--summary-json FILE``: one JSON document per invocation of a load, for a scheduler or a
notebook: the runs with their counts, phase times and gate verdicts, the exit code and what it
means. Its schema is ``summary.schema.json`` beside this file (docs/operations.md).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spark_etl.errors import ConfigError

SCHEMA = "spark-etl/summary/1"
STDOUT = "-"
MEANINGS = {
    0: "done",
    1: "unexpected failure: see the log file",
    2: "a mistake to fix (option, setting, definition, input): do not retry as it is",
    3: "the loads committed, but the analytics refresh failed: run analytics",
    4: "a quality gate stopped a load: it was rolled back, its rejects kept",
    75: "temporary (lock held, PostgreSQL unavailable, connection lost): retry later",
}
COUNTS = {
    "rows_read": "read",
    "rows_loaded": "loaded",
    "rows_rejected": "set_aside",
    "rows_duplicate": "duplicates",
    "rows_inserted": "inserted",
    "rows_updated": "updated",
    "rows_flagged": "flagged",
}


def check_target(target: str | None) -> None:
    """A summary file's folder must exist (checked before anything starts)."""
    if target in (None, STDOUT):
        return
    folder = Path(str(target)).parent
    if not folder.is_dir():
        raise ConfigError(
            f"--summary-json {target}: the folder {folder} does not exist; create it or name "
            "another file (or - for stdout)."
        )


def _number(value: Any) -> Any:
    """numeric columns come as Decimal: whole ones as int, the rest as float."""
    if value is None or isinstance(value, int | float):
        return value
    return int(value) if value == int(value) else float(value)


def document(
    job: str,
    started_at: datetime,
    code: int,
    error: str | None,
    runs: Sequence[dict[str, Any]],
    gates: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The summary of one invocation: ``runs`` as ``postgres.run_summaries`` gives them,
    ``gates`` as ``metrics.gates`` does."""
    return {
        "schema": SCHEMA,
        "job": job,
        "started_at": started_at.isoformat(timespec="seconds") + "Z",
        "finished_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
        + "Z",
        "exit_code": code,
        "meaning": MEANINGS.get(code, "unexpected failure: see the log file"),
        "error": error,
        "runs": [
            {
                "run_id": str(run["run_id"]),
                "job": run["job"],
                "status": run["status"],
                "extract": run.get("extract"),
                "quality": run.get("quality"),
                "counts": {name: run.get(column) for column, name in COUNTS.items()},
                "seconds": {k: round(v, 3) for k, v in (run.get("stage_seconds") or {}).items()},
                "gates": [
                    {
                        "gate": gate["detail"],
                        "figure": _number(gate["value"]),
                        "warn_at": _number(gate["warn_at"]),
                        "fail_at": _number(gate["fail_at"]),
                        "verdict": gate["verdict"],
                        "message": gate["message"],
                    }
                    for gate in gates
                    if str(gate["run_id"]) == str(run["run_id"])
                ],
                "error": run.get("error_message"),
            }
            for run in runs
        ],
    }


def write(target: str, summary: dict[str, Any]) -> None:
    """To stdout (``-``), or to the file atomically: a reader never sees half of it."""
    text = json.dumps(summary, indent=1) + "\n"
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
