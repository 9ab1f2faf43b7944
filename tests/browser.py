"""Open a generated report in headless Chromium, as a user's browser would: the page after its
scripts ran, what they printed on the console, and a screenshot of the first screen.

Also a command, to refresh the README's screenshot from a report folder:
    python -m tests.browser .local/report docs/report-first-screen.png
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Chromium's own complaints about the sandboxed machine (no D-Bus, no GPU) are not the page's.
CONSOLE_LINE = re.compile(r":CONSOLE[:(]\d*\)?\]? (.*)")
FIRST_SCREEN = (1280, 900)


@dataclass(frozen=True)
class Page:
    dom: str  # the document after its scripts ran
    console: list[str]  # every message the page wrote on the console (errors included)


def chromium() -> str | None:
    """Debian's chromium (what ./test.sh installs), or another Chromium found on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(page: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",  # also as root, in a container
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",  # the report needs no network, ever
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                # run the page's scripts (a few MB of plotly.js) before dumping or shooting
                "--virtual-time-budget=15000",
                *arguments,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )


def open_page(page: Path, width: int = FIRST_SCREEN[0], height: int = FIRST_SCREEN[1]) -> Page:
    """The page as the browser built it, and its console messages."""
    done = _run(page, f"--window-size={width},{height}", "--dump-dom")
    console = [m.group(1) for m in map(CONSOLE_LINE.search, done.stderr.splitlines()) if m]
    return Page(done.stdout, console)


def screenshot(page: Path, target: Path, size: tuple[int, int] = FIRST_SCREEN) -> Path:
    """A PNG of the first screen of the page."""
    _run(page, f"--window-size={size[0]},{size[1]}", f"--screenshot={target.resolve()}")
    return target


if __name__ == "__main__":
    folder, target = Path(sys.argv[1]), Path(sys.argv[2])
    print(screenshot(folder / "index.html", target))
