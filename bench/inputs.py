"""The inputs the harness derives from a generated extract: the 1% incremental extracts (delta
and snapshot) and the next night's extract.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta
from pathlib import Path

INCREMENTAL_SHARE = 100  # every 100th line changes: 1%


def incremental_input(input_dir: Path, target: Path, *, delta: bool) -> int:
    """The cart extract with the quantity of every 100th line changed: only those lines
    (``delta``) or every line (a full snapshot)."""
    target.mkdir(parents=True, exist_ok=True)
    changed = 0
    with (
        (input_dir / "carts.csv").open(encoding="utf-8", newline="") as source,
        (target / "carts.csv").open("w", encoding="utf-8", newline="") as sink,
    ):
        reader, writer = csv.reader(source), csv.writer(sink, lineterminator="\n")
        writer.writerow(next(reader))
        for number, row in enumerate(reader):
            if number % INCREMENTAL_SHARE == 0:
                row[3] = str(int(row[3]) + 1)
                changed += 1
            elif delta:
                continue
            writer.writerow(row)
    return changed


def nightly_input(input_dir: Path, target: Path, night: int = 1) -> int:
    """Night ``night``'s cart extract: 1% new lines (every 100th line of the input, from the
    ``night - 1``-th on, given a new id after the largest and those of the nights before, and
    moved to the ``night``-th day after the input's last line, its time of day kept; its broken
    lines stay broken)."""
    target.mkdir(parents=True, exist_ok=True)
    with (input_dir / "carts.csv").open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        picked, largest, last, lines = [], 0, "", 0
        for number, row in enumerate(reader):
            lines += 1
            if row[0].isdigit():
                largest = max(largest, int(row[0]))
            if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[4]):
                last = max(last, row[4])
            if number % INCREMENTAL_SHARE == (night - 1) % INCREMENTAL_SHARE:
                picked.append(row)
    day = (datetime.fromisoformat(last[:10]) + timedelta(days=night)).date().isoformat()
    first_id = largest + (night - 1) * (lines // INCREMENTAL_SHARE + 1)  # after earlier nights'
    with (target / "carts.csv").open("w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(header)
        for offset, row in enumerate(picked, start=1):
            moved = day + row[4][10:] if re.match(r"\d{4}-\d\d-\d\d ", row[4]) else row[4]
            writer.writerow([str(first_id + offset), *row[1:4], moved, ""])
    return len(picked)
