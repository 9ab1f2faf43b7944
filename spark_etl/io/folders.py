"""Local folders a job writes into (archives, the lake), checked before Spark starts."""

from __future__ import annotations

import os
from pathlib import Path

from spark_etl.errors import EtlError


def writable_folder(folder: Path, what: str, advice: str, error: type[EtlError]) -> Path:
    """Create ``folder`` when missing; one that cannot be created or written is ``error``,
    naming ``what`` it is and ending with ``advice`` (what to set instead)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{what} {folder} cannot be created ({exc.strerror}); {advice}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{what} {folder} is not writable; {advice}")
    return folder
